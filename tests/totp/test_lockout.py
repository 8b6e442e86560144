"""Failures count against the mfaToken (burned at 5) and the factor (delay from the 5th
attempt, growing; locked at 50 until a success, a recovery or an unlock), all by the
injected clock, in both modes."""

from __future__ import annotations

from tests.conftest import Ids, Stack
from tests.support.codes import wrong_code
from tests.support.totp_flows import AUTH, USERS, code, enroll, failures, login


async def state(stack: Stack, ids: Ids):  # type: ignore[no-untyped-def]
    """The user's TOTP lockout state now."""
    return await stack.stores.lockout.state(ids.tenant, ids.user, "totp",
                                            now=stack.clock.time())


async def fail(stack: Stack, token: str, seed: str, status: int = 400) -> dict:
    """One wrong code."""
    return await stack.post(f"{AUTH}/verify",
                            {"mfaToken": token, "value": wrong_code(code(stack, seed))},
                            expected_status=status)


async def test_five_failures_burn_the_mfa_token(stack: Stack, ids: Ids) -> None:
    seed, _ = await enroll(stack, ids)
    token = await login(stack, ids)
    for _ in range(5):
        await fail(stack, token, seed)
    res = await stack.post(f"{AUTH}/verify", {"mfaToken": token, "value": code(stack, seed)},
                           expected_status=401)
    assert res["errorCode"] == "ER-MFA-INVALID-MFA-TOKEN"


async def test_delay_from_the_fifth_failure_grows(stack: Stack, ids: Ids) -> None:
    seed, _ = await enroll(stack, ids)
    for _ in range(4):
        await fail(stack, await login(stack, ids), seed)
    assert (await state(stack, ids)).retry_after == 0
    await fail(stack, await login(stack, ids), seed)
    assert 0 < (await state(stack, ids)).retry_after <= 1
    token = await login(stack, ids)
    res = await stack.post(f"{AUTH}/verify", {"mfaToken": token, "value": code(stack, seed)},
                           expected_status=429)
    assert res["errorCode"] == "ER-MFA-DELAY" and res["context"]["retryAfter"] >= 1
    stack.clock.advance((await state(stack, ids)).retry_after)
    await fail(stack, token, seed)
    assert 1 < (await state(stack, ids)).retry_after <= 2
    stack.clock.advance((await state(stack, ids)).retry_after)
    await stack.post(f"{AUTH}/verify", {"mfaToken": token, "value": code(stack, seed)})
    assert (await state(stack, ids)).failures == 0


async def _fail_until_locked(stack: Stack, ids: Ids, seed: str) -> None:
    for _ in range(50):
        stack.clock.advance(901)  # past any delay
        await fail(stack, await login(stack, ids), seed)


async def test_locked_at_fifty_failures_even_for_a_right_code(stack: Stack, ids: Ids) -> None:
    seed, _ = await enroll(stack, ids)
    await _fail_until_locked(stack, ids, seed)
    assert [f["action"] for f in await failures(stack, ids)].count("lockout") == 1
    assert (await state(stack, ids)).locked
    res = await stack.post(f"{AUTH}/verify",
                           {"mfaToken": await login(stack, ids), "value": code(stack, seed)},
                           expected_status=429)
    assert res["errorCode"] == "ER-MFA-LOCKED"
    await stack.post(f"{USERS}/disable", {"token": code(stack, seed)},
                     token=stack.user_token(ids), expected_status=429)
    await stack.stores.lockout.reset(ids.tenant, ids.user, "totp")
    await stack.post(f"{AUTH}/verify",
                     {"mfaToken": await login(stack, ids), "value": code(stack, seed)})


async def test_the_lock_has_no_window(stack: Stack, ids: Ids) -> None:
    """NIST SP 800-63B 5.2.2 counts consecutive failures until a success: no window (the
    record only expires MFA_LOCKOUT_TTL, 7 days, after the last attempt on it)."""
    seed, _ = await enroll(stack, ids)
    await _fail_until_locked(stack, ids, seed)
    stack.clock.advance(6 * 86400)
    res = await stack.post(f"{AUTH}/verify",
                           {"mfaToken": await login(stack, ids), "value": code(stack, seed)},
                           expected_status=429)
    assert res["errorCode"] == "ER-MFA-LOCKED"


async def test_recovery_lifts_the_lock(stack: Stack, ids: Ids) -> None:
    token = stack.user_token(ids)
    pre = await stack.post(f"{USERS}/authenticator/enroll", token=token)
    done = await stack.post(f"{USERS}/authenticator/enroll/verify",
                            {"token": code(stack, pre["secret"])}, token=token)
    await _fail_until_locked(stack, ids, pre["secret"])
    await stack.post("/resources/auth/v1/user/mfa/recover",
                     {"email": ids.email, "recoveryCode": done["recoveryCode"]})
    assert (await state(stack, ids)).failures == 0


async def test_lockout_is_per_user(stack: Stack, ids: Ids) -> None:
    seed, _ = await enroll(stack, ids)
    other = ids.other()
    other_seed, _ = await enroll(stack, other)
    for _ in range(5):
        await fail(stack, await login(stack, ids), seed)
    await stack.post(f"{AUTH}/verify",
                     {"mfaToken": await login(stack, other), "value": code(stack, other_seed)})
