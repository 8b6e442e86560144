"""Failures count against the mfaToken (burned at 5) and the factor (delay from the 5th
failure, growing; locked at 50; a success resets)."""

from __future__ import annotations

import asyncio

from tests.conftest import Ids, Stack
from tests.totp.support import AUTH, USERS, code, enroll, failures, login, wrong


def wait_key(ids: Ids) -> str:
    """The lockout's delay/lock record of the user's TOTP factor."""
    return f"lock:{ids.tenant}:{ids.user}:totp:wait"


async def let_delay_pass(stack: Stack, ids: Ids) -> None:
    """Wait out the current delay (frozen clock in memory; Redis expires by the wall clock)."""
    left = await stack.stores.eph.ttl(wait_key(ids))
    if stack.mode == "embedded":
        stack.clock.advance(left + 0.1)
    else:
        await asyncio.sleep(left + 0.1)


async def fail(stack: Stack, token: str, seed: str, status: int = 400) -> dict:
    """One wrong code."""
    return await stack.post(f"{AUTH}/verify",
                            {"mfaToken": token, "value": wrong(code(stack, seed))},
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
    assert await stack.stores.eph.ttl(wait_key(ids)) == 0
    await fail(stack, await login(stack, ids), seed)
    first = await stack.stores.eph.ttl(wait_key(ids))
    assert 0 < first <= 1
    token = await login(stack, ids)
    res = await stack.post(f"{AUTH}/verify", {"mfaToken": token, "value": code(stack, seed)},
                           expected_status=429)
    assert res["errorCode"] == "ER-MFA-DELAY" and res["context"]["retryAfter"] >= 1
    await let_delay_pass(stack, ids)
    await fail(stack, token, seed)
    assert 1.5 < await stack.stores.eph.ttl(wait_key(ids)) <= 2
    await let_delay_pass(stack, ids)
    await stack.post(f"{AUTH}/verify", {"mfaToken": token, "value": code(stack, seed)})
    assert await stack.stores.eph.ttl(f"lock:{ids.tenant}:{ids.user}:totp") == 0


async def test_locked_at_fifty_failures_even_for_a_right_code(stack: Stack, ids: Ids) -> None:
    seed, _ = await enroll(stack, ids)
    for _ in range(49):
        await stack.stores.lockout.failure(ids.tenant, ids.user, "totp")
    await stack.stores.eph.delete(wait_key(ids))
    await fail(stack, await login(stack, ids), seed)
    assert [f["action"] for f in await failures(stack, ids)][-1] == "lockout"
    res = await stack.post(f"{AUTH}/verify",
                           {"mfaToken": await login(stack, ids), "value": code(stack, seed)},
                           expected_status=429)
    assert res["errorCode"] == "ER-MFA-LOCKED"
    res = await stack.post(f"{USERS}/disable", {"token": code(stack, seed)},
                           token=stack.user_token(ids), expected_status=429)
    await stack.stores.lockout.reset(ids.tenant, ids.user, "totp")
    await stack.post(f"{AUTH}/verify",
                     {"mfaToken": await login(stack, ids), "value": code(stack, seed)})


async def test_lockout_is_per_user(stack: Stack, ids: Ids) -> None:
    seed, _ = await enroll(stack, ids)
    other = ids.other()
    other_seed, _ = await enroll(stack, other)
    for _ in range(5):
        await fail(stack, await login(stack, ids), seed)
    await stack.post(f"{AUTH}/verify",
                     {"mfaToken": await login(stack, other), "value": code(stack, other_seed)})
