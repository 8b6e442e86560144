"""MFA_EMAIL_CODE_DIGITS=8 makes eight-digit codes."""

from __future__ import annotations

import pytest

from tests.conftest import Ids, Stack
from tests.email.conftest import code_in, email_session, html_part, request_code, verify
from tests.support.smtp_server import SmtpServer


@pytest.fixture
def email_env() -> dict[str, str]:
    """Eight-digit codes."""
    return {"MFA_EMAIL_CODE_DIGITS": "8"}


async def test_an_eight_digit_code_is_sent_and_logs_in(stack: Stack, ids: Ids,
                                                       smtp: SmtpServer) -> None:
    token = await email_session(stack, ids)
    otc = await request_code(stack, token)
    code = code_in(smtp.messages[0], digits=8)
    assert code in html_part(smtp.messages[0].message)
    assert smtp.messages[0].message["Subject"].startswith(code)
    await verify(stack, token, otc, code)
