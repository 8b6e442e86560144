"""Email codes under parallel guessing: every attempt is reserved on the mfaToken and the
user's email-code lockout before the code is compared (shared.mfa.flow)."""

from __future__ import annotations

import pytest

from tests.conftest import Ids, Stack
from tests.email.conftest import VERIFY, login_code, verify
from tests.support.bursts import burst, evaluated, refused_rows
from tests.support.codes import wrong_code
from tests.support.smtp_server import SmtpServer


@pytest.fixture
def email_env() -> dict[str, str]:
    """A code per login without waiting: no resend cooldown, a high hourly cap."""
    return {"MFA_EMAIL_RESEND_COOLDOWN": "0", "MFA_EMAIL_USER_HOURLY_LIMIT": "1000"}


async def test_parallel_wrong_codes_on_one_mfa_token_get_five_comparisons(
        stack: Stack, ids: Ids, smtp: SmtpServer) -> None:
    token, otc, code = await login_code(stack, ids, smtp)
    statuses = await burst(stack, [(VERIFY, {"mfaToken": token, "otcToken": otc,
                                             "code": wrong_code(code)})] * 20)
    assert evaluated(statuses) == 5 and statuses.count(401) == 15, statuses
    assert await refused_rows(stack, ids.tenant, ids.user, "email") == 5
    await verify(stack, token, otc, code, expected_status=401)


async def test_a_burst_over_many_mfa_tokens_is_stopped_by_the_delay(
        stack: Stack, ids: Ids, smtp: SmtpServer) -> None:
    logins = [await login_code(stack, ids, smtp) for _ in range(10)]
    statuses = await burst(stack, [(VERIFY, {"mfaToken": t, "otcToken": o, "code": wrong_code(c)})
                                   for t, o, c in logins for _ in range(3)])
    assert evaluated(statuses) <= 6 and statuses.count(429) >= 24, statuses
    token, otc, right = logins[-1]
    await verify(stack, token, otc, right, expected_status=429)
