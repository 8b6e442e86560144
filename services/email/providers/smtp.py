"""Submission over SMTP with aiosmtplib: STARTTLS (RFC 3207), implicit TLS (RFC 8314) or plain,
optional AUTH, and one overall deadline per message."""

from __future__ import annotations

import asyncio
import socket
import ssl
from email.message import EmailMessage

import aiosmtplib
from opentelemetry.trace import SpanKind

from services.email.config import SmtpConfig
from services.email.providers import SendFailed
from shared.http import tracing


def tls_context(cfg: SmtpConfig) -> ssl.SSLContext | None:
    """Certificate- and hostname-checking TLS (1.2+), trusting MFA_SMTP_CA_FILE when set."""
    if cfg.tls == "none":
        return None
    ctx = ssl.create_default_context(cafile=cfg.ca_file or None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def _reason(e: BaseException) -> str:
    """A short, address-free reason for logs."""
    cause: BaseException | None = e
    while cause is not None:  # aiosmtplib wraps a failed TLS handshake in SMTPConnectError
        if isinstance(cause, ssl.SSLError):
            return "tls-failed"
        cause = cause.__cause__
    if isinstance(e, TimeoutError):
        return "timeout"
    if isinstance(e, aiosmtplib.SMTPAuthenticationError):
        return "auth-refused"
    if isinstance(e, aiosmtplib.SMTPResponseException):
        return f"smtp-{e.code}"
    if isinstance(e, aiosmtplib.SMTPRecipientsRefused):
        return "recipient-refused"
    if isinstance(e, aiosmtplib.SMTPConnectError | ConnectionError):
        return "connect-failed"
    return type(e).__name__


class SmtpSender:
    """Opens one SMTP session per message (the submission server queues and relays)."""

    name = "smtp"

    def __init__(self, cfg: SmtpConfig) -> None:
        self._cfg = cfg
        self._tls = tls_context(cfg)
        self._ehlo: str | None = None

    async def _local_hostname(self) -> str:
        # aiosmtplib would call socket.getfqdn (a DNS lookup) on every connection; once is enough.
        if self._ehlo is None:
            self._ehlo = await asyncio.to_thread(socket.getfqdn) or "localhost"
        return self._ehlo

    async def send(self, message: EmailMessage) -> None:
        """Submit the message within MFA_SMTP_TIMEOUT; SendFailed on any failure."""
        c = self._cfg
        try:
            with tracing.span("smtp.send", SpanKind.CLIENT,
                              **{"server.address": c.host, "server.port": c.port}):
                async with asyncio.timeout(c.timeout):
                    await aiosmtplib.send(
                        message, hostname=c.host, port=c.port,
                        use_tls=c.tls == "implicit", start_tls=c.tls == "starttls",
                        tls_context=self._tls, username=c.username or None,
                        password=c.password or None, timeout=c.timeout,
                        local_hostname=await self._local_hostname())
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as e:
            raise SendFailed(_reason(e)) from None
