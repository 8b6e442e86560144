"""SMS codes under parallel guessing: every attempt is reserved on the mfaToken and the user's
SMS lockout before the code is compared (shared.mfa.flow)."""

from __future__ import annotations

import pytest

from tests.conftest import Ids, Stack
from tests.sms.conftest import AUTH, USERS, allow_sms, begin_enroll, enroll_phone
from tests.support.bursts import burst, evaluated, refused_rows
from tests.support.codes import wrong_code
from tests.support.sms_gateway import Inbox


@pytest.fixture
def sms_env() -> dict[str, str]:
    """A code per login without waiting: no resend cooldown, high hourly caps."""
    return {"MFA_SMS_RESEND_COOLDOWN": "0", "MFA_SMS_USER_HOURLY_LIMIT": "1000",
            "MFA_SMS_PHONE_HOURLY_LIMIT": "1000"}


async def _code_for_login(stack: Stack, ids: Ids, inbox: Inbox, device_id: str,
                          phone: str) -> tuple[str, str, str]:
    token = (await stack.start_session(ids))["mfaToken"]
    otc = (await stack.post(f"{AUTH}/{device_id}", {"mfaToken": token}))["otcToken"]
    return token, otc, inbox.code_for(phone)


async def test_parallel_wrong_codes_on_one_mfa_token_get_five_comparisons(
        stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids)
    device_id, phone = await enroll_phone(stack, ids, inbox)
    token, otc, right = await _code_for_login(stack, ids, inbox, device_id, phone)
    path = f"{AUTH}/{device_id}/verify"
    statuses = await burst(stack, [(path, {"mfaToken": token, "otcToken": otc,
                                           "code": wrong_code(right)})] * 20)
    assert evaluated(statuses) == 5 and statuses.count(401) == 15, statuses
    assert await refused_rows(stack, ids.tenant, ids.user, "sms") == 5
    await stack.post(path, {"mfaToken": token, "otcToken": otc, "code": right},
                     expected_status=401)


async def test_a_burst_over_many_mfa_tokens_is_stopped_by_the_delay(
        stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids)
    device_id, phone = await enroll_phone(stack, ids, inbox)
    logins = [await _code_for_login(stack, ids, inbox, device_id, phone) for _ in range(10)]
    path = f"{AUTH}/{device_id}/verify"
    statuses = await burst(stack, [(path, {"mfaToken": t, "otcToken": o, "code": wrong_code(c)})
                                   for t, o, c in logins for _ in range(3)])
    assert evaluated(statuses) <= 6 and statuses.count(429) >= 24, statuses
    token, otc, right = logins[-1]  # the right code of one of them, once the delay runs
    await stack.post(path, {"mfaToken": token, "otcToken": otc, "code": right},
                     expected_status=429)


async def test_parallel_wrong_codes_on_the_profile_enrollment_count_against_the_lockout(
        stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids)
    bearer, phone, otc = await begin_enroll(stack, ids)
    right = inbox.code_for(phone)
    statuses = await burst(stack, [(f"{USERS}/enroll/verify",
                                    {"otcToken": otc, "code": wrong_code(right)})] * 20,
                           token=bearer)
    assert evaluated(statuses) == 5 and statuses.count(429) == 15, statuses
    await stack.post(f"{USERS}/enroll/verify", {"otcToken": otc, "code": right},
                     token=bearer, expected_status=429)
