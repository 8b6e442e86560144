"""The resend cooldown ends: a one-second cooldown here, so the test can wait it out."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import Ids, Stack
from tests.email.conftest import SEND, code_in, email_session, request_code, verify
from tests.support.smtp_server import SmtpServer


@pytest.fixture
def email_env() -> dict[str, str]:
    """A one-second resend cooldown."""
    return {"MFA_EMAIL_RESEND_COOLDOWN": "1"}


async def test_a_resend_after_the_cooldown_is_sent_and_both_codes_work(
        stack: Stack, ids: Ids, smtp: SmtpServer) -> None:
    token = await email_session(stack, ids)
    first = await request_code(stack, token)
    await stack.post(SEND, {"mfaToken": token}, expected_status=429)
    stack.clock.advance(1.1)  # embedded: memory TTLs follow the test clock
    await asyncio.sleep(1.1)  # split: Redis TTLs follow the real one
    second = await request_code(stack, token)
    assert len(smtp.messages) == 2 and first != second
    await verify(stack, token, second, code_in(smtp.messages[1]))
