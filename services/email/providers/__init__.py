"""Email senders: real SMTP (aiosmtplib) and, for development only, the console."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Protocol


class SendFailed(Exception):
    """The message was not accepted for delivery; `reason` is safe to log (no address)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class EmailSender(Protocol):
    """Hands one message to a mail system; raises SendFailed when it was not accepted."""

    name: str

    async def send(self, message: EmailMessage) -> None:
        """Deliver (or submit) the message."""
