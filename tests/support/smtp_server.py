"""A real SMTP server for tests (aiosmtpd on a loopback port) that keeps what it receives, and
a throwaway CA + server certificate for its TLS."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import ipaddress
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from bench.procs import free_port

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Delivered:
    """One message as the server received it."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    raw: bytes
    tls: bool
    login: str | None


@dataclass
class Mailbox:
    """aiosmtpd handler: stores every message; can be told to refuse, stall or check AUTH."""

    messages: list[Delivered] = field(default_factory=list)
    users: dict[str, str] = field(default_factory=dict)
    stall: float = 0.0
    refuse_rcpt: bool = False

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        """Accept the recipient, or refuse it permanently when told to."""
        if self.refuse_rcpt:
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Keep the message (after the optional stall)."""
        if self.stall:
            await asyncio.sleep(self.stall)
        raw = bytes(envelope.original_content or envelope.content)
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        login = session.auth_data.login.decode() if session.authenticated else None
        self.messages.append(Delivered(envelope.mail_from, list(envelope.rcpt_tos), msg, raw,
                                       server.transport.get_extra_info("ssl_object") is not None,
                                       login))
        return "250 Message accepted"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str,
                     auth_data: Any) -> AuthResult:
        """AUTH PLAIN/LOGIN against `users`."""
        ok = (isinstance(auth_data, LoginPassword)
              and self.users.get(auth_data.login.decode()) == auth_data.password.decode())
        return AuthResult(success=ok, handled=False, auth_data=auth_data)


class SmtpServer:
    """aiosmtpd's Controller (its own thread and loop) on a fixed loopback port (or `host`'s)."""

    def __init__(self, *, port: int | None = None, tls: str = "none",
                 cert: Certs | None = None, users: dict[str, str] | None = None,
                 host: str = HOST) -> None:
        self.port = port or free_port()
        self.tls = tls
        self.mailbox = Mailbox(users=dict(users or {}))
        kwargs: dict[str, Any] = {}
        if tls == "starttls":
            assert cert is not None
            kwargs.update(tls_context=cert.server_context(), require_starttls=True)
        elif tls == "implicit":
            assert cert is not None
            kwargs.update(ssl_context=cert.server_context())
        if users is not None:
            # aiosmtpd only knows STARTTLS as "TLS"; with implicit TLS every byte is already
            # encrypted, so its require-TLS check would wrongly hide AUTH.
            kwargs.update(authenticator=self.mailbox.authenticate,
                          auth_require_tls=tls != "implicit")
        self._controller = Controller(self.mailbox, hostname=host, port=self.port,
                                      server_hostname="mail.test", **kwargs)
        self.running = False

    @property
    def messages(self) -> list[Delivered]:
        """What the server has received."""
        return self.mailbox.messages

    def start(self) -> SmtpServer:
        """Listen (blocks until the server answers)."""
        self._controller.start()
        self.running = True
        return self

    def stop(self) -> None:
        """Stop listening."""
        if self.running:
            self._controller.stop()
            self.running = False


@dataclass(frozen=True)
class Certs:
    """A test CA and a server certificate for 127.0.0.1/localhost, as PEM files."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        """The server side's TLS context."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_certs(folder: Path) -> Certs:
    """A fresh CA (valid one day) and a server certificate it signs."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name("MFA test CA"))
          .issuer_name(_name("MFA test CA")).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(minutes=5))
          .not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                       False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name("localhost")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    out = Certs(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    out.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    out.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    out.key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    return out
