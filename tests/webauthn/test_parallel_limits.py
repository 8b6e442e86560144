"""WebAuthn assertions under parallel guessing: every finish is reserved on the mfaToken and
the user's WebAuthn lockout before the signature is checked (shared.mfa.flow)."""

from __future__ import annotations

from tests.conftest import Ids, Stack
from tests.support.bursts import burst, evaluated, refused_rows
from tests.support.webauthn_flows import AUTH, enroll_at_login, pre_verify, verify_body


async def test_parallel_forged_assertions_on_one_mfa_token_get_five_checks(
        stack: Stack, ids: Ids) -> None:
    e = await enroll_at_login(stack, ids)
    token, pre = await pre_verify(stack, e)
    forged = verify_body(token, pre, e.key.tamper_signature(e.key.get(pre["options"])))
    path = f"{AUTH}/{e.device_id}/verify"
    statuses = await burst(stack, [(path, forged)] * 20)
    assert evaluated(statuses) == 5 and statuses.count(401) == 15, statuses
    assert await refused_rows(stack, ids.tenant, ids.user, "webauthn") == 5
    pre2 = await stack.post(f"{AUTH}/{e.device_id}", {"mfaToken": token}, expected_status=401)
    assert pre2["errorCode"] == "ER-MFA-INVALID-MFA-TOKEN"


async def test_a_burst_over_many_mfa_tokens_is_stopped_by_the_delay(stack: Stack,
                                                                    ids: Ids) -> None:
    e = await enroll_at_login(stack, ids)
    path = f"{AUTH}/{e.device_id}/verify"
    started = [await pre_verify(stack, e) for _ in range(10)]
    forged = [verify_body(t, pre, e.key.tamper_signature(e.key.get(pre["options"])))
              for t, pre in started]
    statuses = await burst(stack, [(path, body) for body in forged for _ in range(3)])
    assert evaluated(statuses) <= 6 and statuses.count(429) >= 24, statuses
    token, pre = started[-1]
    await stack.post(path, verify_body(token, pre, e.key.get(pre["options"])),
                     expected_status=429)
