"""SMS providers behind one small interface, chosen by MFA_SMS_PROVIDER."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import aiohttp

from services.sms.config import SmsConfig
from shared.clock import Clock


@dataclass(frozen=True)
class SmsMessage:
    """One text to deliver; `code` travels beside the text only for the console provider."""

    to: str
    body: str
    locale: str
    purpose: str
    to_masked: str
    code: str = field(default="", repr=False)


class ProviderError(Exception):
    """The provider refused, failed or did not answer in time (the API answers 502)."""


class SmsProvider(Protocol):
    """Delivers a text message; returns the provider's message id when it gives one."""

    name: str

    async def send(self, message: SmsMessage) -> str | None:
        """Send, or raise ProviderError."""
        ...


def build_provider(config: SmsConfig, http: aiohttp.ClientSession, clock: Clock) -> SmsProvider:
    """The configured provider, over the app's one shared client session."""
    if config.provider == "twilio":
        from services.sms.providers.twilio import TwilioProvider

        return TwilioProvider(config, http)
    if config.provider == "webhook":
        from services.sms.providers.webhook import WebhookProvider

        return WebhookProvider(config, http, clock)
    from services.sms.providers.console import ConsoleProvider

    return ConsoleProvider(log_codes=config.console_log_codes)
