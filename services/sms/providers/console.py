"""The console provider: sends nothing, logs that a code was sent (the embedded default)."""

from __future__ import annotations

import logging

from services.sms.providers import SmsMessage

log = logging.getLogger("mfa.sms.console")


class ConsoleProvider:
    """For development: with log_codes (on by default only in embedded mode) the code itself
    is logged, marked DEVELOPMENT ONLY, so the API can be tried without a phone."""

    name = "console"

    def __init__(self, *, log_codes: bool) -> None:
        self._log_codes = log_codes

    async def send(self, message: SmsMessage) -> str | None:
        """Log the send; never fails."""
        fields = {"purpose": message.purpose, "locale": message.locale, "provider": self.name}
        if self._log_codes:
            log.warning("DEVELOPMENT ONLY - SMS not sent; code for %s is %s",
                        message.to_masked, message.code, extra={"fields": fields})
        else:
            log.info("SMS code issued (console provider, nothing sent)",
                     extra={"fields": fields})
        return None
