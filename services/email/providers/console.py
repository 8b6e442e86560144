"""DEVELOPMENT ONLY: writes the message to the log instead of sending it.

Used in embedded mode when MFA_SMTP_HOST is not set, so `make run` works without a mail
server. It logs the code, which nothing else in this service ever does; never use it in
production (split mode refuses to fall back to it).
"""

from __future__ import annotations

import logging
from email.message import EmailMessage

log = logging.getLogger("mfa.email.console")


class ConsoleSender:
    """Logs the subject and the plain-text part (with the code); delivers nothing."""

    name = "console"

    async def send(self, message: EmailMessage) -> None:
        """Log the message, clearly marked as not delivered (the recipient is not logged)."""
        part = message.get_body(preferencelist=("plain",))
        text = part.get_content() if isinstance(part, EmailMessage) else ""
        log.warning("DEVELOPMENT ONLY - email NOT sent (MFA_SMTP_HOST is not set)",
                    extra={"fields": {"devOnly": True, "subject": str(message["Subject"]),
                                      "text": text}})
