"""Mail system failures: a server that is down, stalls or refuses is a 502 envelope, nothing
is half-done, and the user can ask again at once (the cooldown is lifted)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.conftest import Ids, Stack
from tests.email.conftest import SEND, code_in, email_session, request_code, verify
from tests.support.smtp_server import SmtpServer


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A server on a reserved port that is NOT started: the tests start it."""
    server = SmtpServer()
    yield server
    server.stop()


@pytest.fixture
def email_env() -> dict[str, str]:
    """A one-second deadline per message."""
    return {"MFA_SMTP_TIMEOUT": "1"}


async def test_a_server_that_is_down_is_502_then_works_when_it_comes_up(
        stack: Stack, ids: Ids, smtp: SmtpServer) -> None:
    token = await email_session(stack, ids)
    body = await stack.post(SEND, {"mfaToken": token}, expected_status=502)
    assert body == {"errors": ["The email could not be sent, please try again"],
                    "errorCode": "ER-MFA-EMAIL-SEND-FAILED"}
    smtp.start()
    otc = await request_code(stack, token)  # no cooldown after the failed send
    await verify(stack, token, otc, code_in(smtp.messages[0]))


async def test_a_stalling_server_times_out_with_502_within_the_deadline(
        stack: Stack, ids: Ids, smtp: SmtpServer) -> None:
    smtp.mailbox.stall = 5.0
    smtp.start()
    token = await email_session(stack, ids)
    started = time.perf_counter()
    body = await stack.post(SEND, {"mfaToken": token}, expected_status=502)
    assert time.perf_counter() - started < 2.5
    assert body["errorCode"] == "ER-MFA-EMAIL-SEND-FAILED"
    smtp.mailbox.stall = 0.0
    await request_code(stack, token)
    assert len(smtp.messages) == 1


async def test_a_refused_recipient_is_502(stack: Stack, ids: Ids, smtp: SmtpServer) -> None:
    smtp.mailbox.refuse_rcpt = True
    smtp.start()
    token = await email_session(stack, ids)
    body = await stack.post(SEND, {"mfaToken": token}, expected_status=502)
    assert body["errorCode"] == "ER-MFA-EMAIL-SEND-FAILED"
    assert smtp.messages == []
