"""Fixtures of the email tests: a real SMTP server per test, the stack pointed at it, and
helpers to start an email-code session and read the code out of the delivered mail."""

from __future__ import annotations

import re
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Ids, Stack
from tests.support.smtp_server import HOST, Certs, Delivered, SmtpServer, make_certs

SEND = "/resources/auth/v1/user/mfa/emailcode"
VERIFY = "/resources/auth/v1/user/mfa/emailcode/verify"
FROM = "MFA Test <no-reply@mfa.test>"


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    """A throwaway CA and server certificate for the SMTP server's TLS."""
    return make_certs(Path(tmp_path_factory.mktemp("smtp-tls")))


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A plain SMTP server on a free loopback port, for this test only."""
    server = SmtpServer().start()
    yield server
    server.stop()


def smtp_env(server: SmtpServer, tls: str = "none", **more: str) -> dict[str, str]:
    """MFA_SMTP_* settings pointing at a test server."""
    return {"MFA_SMTP_HOST": HOST, "MFA_SMTP_PORT": str(server.port), "MFA_SMTP_TLS": tls,
            "MFA_SMTP_FROM": FROM, "MFA_SMTP_TIMEOUT": "3", **more}


@pytest.fixture
def email_env() -> dict[str, str]:
    """Per-module MFA_EMAIL_* / MFA_SMTP_* overrides."""
    return {}


@pytest.fixture
def extra_env(smtp: SmtpServer, email_env: dict[str, str]) -> dict[str, str]:
    """The stack sends through the test's SMTP server, with the module's overrides."""
    return smtp_env(smtp, **email_env)


async def email_session(stack: Stack, ids: Ids, **policy: Any) -> str:
    """Allow EmailCode for the tenant and start an MFA session; its mfaToken."""
    await stack.set_policy(ids, strategies=["EmailCode", "AuthenticatorApp"], **policy)
    body = await stack.start_session(ids)
    assert body["mfaDevices"]["emails"] == [{"email": ids.email}]
    return str(body["mfaToken"])


async def request_code(stack: Stack, mfa_token: str, **kw: Any) -> str:
    """Ask for an emailed code; the otcToken."""
    body = await stack.post(SEND, {"mfaToken": mfa_token}, **kw)
    return str(body["otcToken"])


def text_part(msg: EmailMessage) -> str:
    """The text/plain body."""
    part = msg.get_body(preferencelist=("plain",))
    assert isinstance(part, EmailMessage)
    return str(part.get_content())


def html_part(msg: EmailMessage) -> str:
    """The text/html body."""
    part = msg.get_body(preferencelist=("html",))
    assert isinstance(part, EmailMessage)
    return str(part.get_content())


def code_in(mail: Delivered, digits: int = 6) -> str:
    """The one code the plain-text part carries."""
    found = re.findall(rf"\b[0-9]{{{digits}}}\b", text_part(mail.message))
    assert len(set(found)) == 1, found
    return str(found[0])


async def login_code(stack: Stack, ids: Ids, smtp: SmtpServer) -> tuple[str, str, str]:
    """A new session, a code requested and delivered: (mfaToken, otcToken, code)."""
    token = await email_session(stack, ids)
    otc = await request_code(stack, token)
    return token, otc, code_in(smtp.messages[-1])


async def verify(stack: Stack, mfa_token: str, otc: str, code: str, **kw: Any) -> Any:
    """Post the code to the verify route."""
    return await stack.post(VERIFY, {"mfaToken": mfa_token, "otcToken": otc, "code": code}, **kw)
