"""Lockout records expire MFA_LOCKOUT_TTL after the last attempt on them (Redis and memory):
a counted attempt and a lock give the record its TTL, a refused attempt on a locked factor
renews it, a read creates nothing, and a record nobody touches again is gone after the TTL."""

from __future__ import annotations

import pytest

from shared.clock import FrozenClock
from shared.settings import Settings
from shared.stores.ephemeral import Ephemeral, Limits, MemoryEphemeral

HOUR = 3600.0
LIMITS = Limits(session_max=5, delay_after=100, lock_at=3, ttl=HOUR)


async def test_a_counted_attempt_gives_the_record_its_ttl_and_a_read_creates_none(
        eph: Ephemeral, clock: FrozenClock) -> None:
    key = "lock:{ttl-a}:totp"
    assert (await eph.reserve(key, None, LIMITS, now=clock.time(), count=False)).failures == 0
    assert await eph.ttl(key) == 0
    await eph.reserve(key, None, LIMITS, now=clock.time())
    assert HOUR - 10 < await eph.ttl(key) <= HOUR


async def test_the_delay_state_carries_the_ttl_too(eph: Ephemeral, clock: FrozenClock) -> None:
    key = "lock:{ttl-b}:sms"
    limits = Limits(session_max=5, delay_after=1, lock_at=50, ttl=HOUR)
    await eph.reserve(key, None, limits, now=clock.time())
    assert (await eph.reserve(key, None, limits, now=clock.time())).status == "delayed"
    assert HOUR - 10 < await eph.ttl(key) <= HOUR


async def test_refused_attempts_on_a_locked_factor_renew_the_ttl(
        eph: Ephemeral, clock: FrozenClock) -> None:
    key = "lock:{ttl-c}:totp"
    for _ in range(3):
        await eph.reserve(key, None, LIMITS, now=clock.time())
    longer = Limits(session_max=5, delay_after=100, lock_at=3, ttl=2 * HOUR)
    assert (await eph.reserve(key, None, longer, now=clock.time())).status == "locked"
    assert 2 * HOUR - 10 < await eph.ttl(key) <= 2 * HOUR
    # A read (count=False) renews nothing.
    await eph.reserve(key, None, Limits(5, 100, 3, ttl=9 * HOUR), now=clock.time(), count=False)
    assert await eph.ttl(key) <= 2 * HOUR


async def test_a_lock_by_policy_sets_the_ttl(eph: Ephemeral, clock: FrozenClock) -> None:
    key = "lock:{ttl-d}:email"
    await eph.lock(key, HOUR)
    assert HOUR - 10 < await eph.ttl(key) <= HOUR
    assert (await eph.reserve(key, None, LIMITS, now=clock.time())).status == "locked"


async def test_an_abandoned_lock_is_gone_after_the_ttl(clock: FrozenClock) -> None:
    eph = MemoryEphemeral(clock)
    key = "lock:{ttl-e}:totp"
    for _ in range(3):
        await eph.reserve(key, None, LIMITS, now=clock.time())
    clock.advance(HOUR - 1)
    assert (await eph.reserve(key, None, LIMITS, now=clock.time())).status == "locked"
    clock.advance(HOUR + 1)  # an hour after the refused attempt that renewed it
    fresh = await eph.reserve(key, None, LIMITS, now=clock.time(), count=False)
    assert fresh.status == "ok" and fresh.failures == 0


@pytest.mark.parametrize("value", ["60", "900", str(400 * 86400), "soon"])
def test_a_lockout_ttl_outside_its_range_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="MFA_LOCKOUT_TTL"):
        Settings.from_env({"MFA_LOCKOUT_TTL": value})


def test_the_lockout_ttl_reaches_the_limits() -> None:
    from shared.crypto import CodeHasher
    from shared.mfa.lockout import Lockout

    settings = Settings.from_env({"MFA_LOCKOUT_TTL": "86400"})
    lockout = Lockout(MemoryEphemeral(FrozenClock()), settings, CodeHasher(b"k" * 32),
                      None)  # type: ignore[arg-type]
    assert lockout.limits.ttl == 86400
    assert Settings.from_env({}).lockout_ttl == 7 * 86400
