"""TLS and AUTH: STARTTLS (RFC 3207) and implicit TLS (RFC 8314) with a certificate from a CA
the service trusts through MFA_SMTP_CA_FILE, and SMTP AUTH only over TLS."""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage

import pytest

from services.email.config import SmtpConfig
from services.email.providers import SendFailed
from services.email.providers.smtp import SmtpSender
from tests.conftest import Ids, Stack
from tests.email.conftest import FROM, SEND, code_in, email_session, request_code, smtp_env, verify
from tests.support.smtp_server import HOST, Certs, SmtpServer

USER, PASSWORD = "mfa-service", "correct horse battery staple"


@pytest.fixture(params=["starttls", "implicit"])
def smtp(request: pytest.FixtureRequest, certs: Certs) -> Iterator[SmtpServer]:
    """A TLS server (STARTTLS required, or TLS from the first byte) that demands AUTH."""
    server = SmtpServer(tls=request.param, cert=certs, users={USER: PASSWORD}).start()
    yield server
    server.stop()


@pytest.fixture
def extra_env(smtp: SmtpServer, certs: Certs) -> dict[str, str]:
    """The service trusts the test CA and logs in."""
    return smtp_env(smtp, smtp.tls, MFA_SMTP_CA_FILE=str(certs.ca_file),
                    MFA_SMTP_USERNAME=USER, MFA_SMTP_PASSWORD=PASSWORD)


async def test_login_with_a_code_sent_over_tls_with_auth(stack: Stack, ids: Ids,
                                                         smtp: SmtpServer) -> None:
    token = await email_session(stack, ids)
    otc = await request_code(stack, token)
    [mail] = smtp.messages
    assert mail.tls is True and mail.login == USER
    await verify(stack, token, otc, code_in(mail))


async def test_wrong_smtp_credentials_are_502_and_send_nothing(
        stack: Stack, ids: Ids, smtp: SmtpServer) -> None:
    smtp.mailbox.users[USER] = "rotated"
    token = await email_session(stack, ids)
    body = await stack.post(SEND, {"mfaToken": token}, expected_status=502)
    assert body["errorCode"] == "ER-MFA-EMAIL-SEND-FAILED"
    assert smtp.messages == []
    smtp.mailbox.users[USER] = PASSWORD
    await request_code(stack, token)


async def test_a_certificate_from_an_untrusted_ca_is_refused(smtp: SmtpServer) -> None:
    untrusting = SmtpSender(SmtpConfig(host=HOST, port=smtp.port, tls=smtp.tls, sender=FROM,
                                       username=USER, password=PASSWORD, timeout=3))
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = FROM, "someone@example.test", "x"
    msg.set_content("x")
    with pytest.raises(SendFailed) as e:
        await untrusting.send(msg)
    assert e.value.reason == "tls-failed"
    assert smtp.messages == []
