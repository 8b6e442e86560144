"""Per-user and per-tenant send caps (cooldown off here to reach them)."""

from __future__ import annotations

import pytest

from tests.conftest import Ids, Stack
from tests.email.conftest import SEND, code_in, email_session, request_code, verify
from tests.support.smtp_server import SmtpServer


@pytest.fixture
def email_env() -> dict[str, str]:
    """No cooldown; three sends per user and four per tenant per hour."""
    return {"MFA_EMAIL_RESEND_COOLDOWN": "0", "MFA_EMAIL_USER_HOURLY_LIMIT": "3",
            "MFA_EMAIL_TENANT_HOURLY_LIMIT": "4"}


async def test_the_user_cap_refuses_the_fourth_send_of_the_hour(
        stack: Stack, ids: Ids, smtp: SmtpServer) -> None:
    token = await email_session(stack, ids)
    for _ in range(3):
        await request_code(stack, token)
    body = await stack.post(SEND, {"mfaToken": token}, expected_status=429)
    assert body["errorCode"] == "ER-MFA-SEND-LIMIT"
    assert 3500 <= body["context"]["retryAfter"] <= 3601
    assert len(smtp.messages) == 3


async def test_the_tenant_cap_counts_every_user_of_the_tenant(
        stack: Stack, ids: Ids, smtp: SmtpServer) -> None:
    for _ in range(3):
        await request_code(stack, await email_session(stack, ids))
    other = ids.other()
    await request_code(stack, await email_session(stack, other))
    token = (await stack.start_session(other))["mfaToken"]
    body = await stack.post(SEND, {"mfaToken": token}, expected_status=429)
    assert body["errorCode"] == "ER-MFA-SEND-LIMIT"
    assert len(smtp.messages) == 4
    await request_code(stack, await email_session(stack, Ids()))  # another tenant is not held


async def test_an_earlier_code_stays_valid_after_a_resend(stack: Stack, ids: Ids,
                                                      smtp: SmtpServer) -> None:
    token = await email_session(stack, ids)
    first = await request_code(stack, token)
    await request_code(stack, token)
    await verify(stack, token, first, code_in(smtp.messages[0]))
