"""The attempt reservation (Ephemeral.reserve / settle) on Redis and in memory: counted
before any comparison, exactly, under concurrency; the lock holds until a success."""

from __future__ import annotations

import asyncio

from shared.clock import FrozenClock
from shared.crypto import CodeHasher, FieldCipher
from shared.mfa.sessions import MfaSessionStore
from shared.stores.ephemeral import Ephemeral, Limits

CIPHER = FieldCipher([("t1", b"c" * 32)])
HIGH = Limits(session_max=10_000, delay_after=10_000, lock_at=10_000)


def _sessions(eph: Ephemeral, clock: FrozenClock) -> MfaSessionStore:
    return MfaSessionStore(eph, clock, CodeHasher(b"k" * 32), CIPHER, ttl=600)


async def test_fifty_concurrent_reservations_leave_the_count_at_exactly_fifty(
        eph: Ephemeral, clock: FrozenClock) -> None:
    results = await asyncio.gather(*(eph.reserve("lock:{t1}:totp", None, HIGH, now=clock.time())
                                     for _ in range(50)))
    assert sorted(r.failures for r in results) == list(range(1, 51))
    state = await eph.reserve("lock:{t1}:totp", None, HIGH, now=clock.time(), count=False)
    assert state.status == "ok" and state.failures == 50


async def test_a_session_admits_at_most_its_limit_of_concurrent_attempts(
        eph: Ephemeral, clock: FrozenClock) -> None:
    token, s = await _sessions(eph, clock).create(tenant_id="t", user_id="u", email="e@x.test")
    limits = Limits(session_max=5, delay_after=10_000, lock_at=10_000)
    results = await asyncio.gather(*(eph.reserve(f"lock:{{{s.tag}}}:totp", s.key, limits,
                                                 now=clock.time()) for _ in range(50)))
    ok = [r for r in results if r.status == "ok"]
    assert len(ok) == 5 and sorted(r.session_failures for r in ok) == [1, 2, 3, 4, 5]
    assert {r.status for r in results if r.status != "ok"} == {"gone"}
    assert ok[0].session is not None and ok[0].session["user_id"] == "u"
    # Burned: even a settle-free read finds nothing to admit.
    again = await eph.reserve(f"lock:{{{s.tag}}}:totp", s.key, limits, now=clock.time())
    assert again.status == "gone"


async def test_the_delay_answers_before_any_more_are_counted(
        eph: Ephemeral, clock: FrozenClock) -> None:
    limits = Limits(session_max=5, delay_after=5, lock_at=50)
    results = await asyncio.gather(*(eph.reserve("lock:{t2}:sms", None, limits, now=clock.time())
                                     for _ in range(30)))
    assert [r.status for r in results].count("ok") == 5
    delayed = [r for r in results if r.status == "delayed"]
    assert len(delayed) == 25 and all(0 < r.retry_after <= 1 for r in delayed)
    clock.advance(1.01)
    assert (await eph.reserve("lock:{t2}:sms", None, limits, now=clock.time())).failures == 6
    delayed_again = await eph.reserve("lock:{t2}:sms", None, limits, now=clock.time())
    assert delayed_again.status == "delayed" and 1 < delayed_again.retry_after <= 2


async def test_the_lock_holds_until_a_success(eph: Ephemeral, clock: FrozenClock) -> None:
    limits = Limits(session_max=5, delay_after=1_000, lock_at=3)
    for _ in range(3):
        assert (await eph.reserve("lock:{t3}:totp", None, limits, now=clock.time())).status == "ok"
    clock.advance(6 * 86400)  # no window: six days later (within MFA_LOCKOUT_TTL) still locked
    locked = await eph.reserve("lock:{t3}:totp", None, limits, now=clock.time())
    assert locked.status == "locked" and locked.failures == 3
    assert await eph.settle("lock:{t3}:totp", None) is True
    assert (await eph.reserve("lock:{t3}:totp", None, limits, now=clock.time())).failures == 1


async def test_settle_consumes_the_session_once_among_fifty(
        eph: Ephemeral, clock: FrozenClock) -> None:
    token, s = await _sessions(eph, clock).create(tenant_id="t", user_id="u", email="e@x.test")
    lock = f"lock:{{{s.tag}}}:totp"
    await eph.reserve(lock, s.key, HIGH, now=clock.time())
    wins = await asyncio.gather(*(eph.settle(lock, s.key) for _ in range(50)))
    assert wins.count(True) == 1
    assert (await eph.reserve(lock, s.key, HIGH, now=clock.time())).status == "gone"
    assert (await eph.reserve(lock, None, HIGH, now=clock.time(), count=False)).failures == 0


async def test_an_expired_session_is_gone_by_the_injected_clock(
        eph: Ephemeral, clock: FrozenClock) -> None:
    sessions = _sessions(eph, clock)
    token, s = await sessions.create(tenant_id="t", user_id="u", email="e@x.test")
    assert await sessions.load(token) == s
    clock.advance(601)
    assert await sessions.load(token) is None
    assert (await eph.reserve(f"lock:{{{s.tag}}}:totp", s.key, HIGH,
                              now=clock.time())).status == "gone"


async def test_a_forged_or_malformed_mfa_token_finds_nothing(
        eph: Ephemeral, clock: FrozenClock) -> None:
    sessions = _sessions(eph, clock)
    token, _ = await sessions.create(tenant_id="t", user_id="u", email="e@x.test")
    random_part, tag = token.rsplit(".", 1)
    for bad in ("", "x" * 201, random_part, f"{random_part}.{'0' * 16}", f"{token}x",
                f"{random_part}.{tag.upper()}"):
        assert await sessions.load(bad) is None


async def test_the_session_record_holds_no_email_in_clear(eph: Ephemeral,
                                                         clock: FrozenClock) -> None:
    token, s = await _sessions(eph, clock).create(tenant_id="t", user_id="u",
                                                  email="ann@example.test")
    record = await eph.get(s.key)
    assert record is not None and "ann@example.test" not in str(record)
    assert "phone_number" not in record
    assert (await _sessions(eph, clock).load(token)) == s


async def test_a_burned_session_is_told_apart_from_an_expired_one(
        eph: Ephemeral, clock: FrozenClock) -> None:
    sessions = _sessions(eph, clock)
    limits = Limits(session_max=2, delay_after=10_000, lock_at=10_000)
    _, burned = await sessions.create(tenant_id="t", user_id="u", email="e@x.test")
    for _ in range(2):
        await eph.reserve(f"lock:{{{burned.tag}}}:totp", burned.key, limits, now=clock.time())
    used_up = await eph.reserve(f"lock:{{{burned.tag}}}:totp", burned.key, limits,
                                now=clock.time())
    assert used_up.status == "gone" and used_up.burned
    _, expiring = await sessions.create(tenant_id="t", user_id="u2", email="e@x.test")
    clock.advance(601)
    expired = await eph.reserve(f"lock:{{{expiring.tag}}}:totp", expiring.key, limits,
                                now=clock.time())
    assert expired.status == "gone" and not expired.burned
    unknown = await eph.reserve("lock:{t9}:totp", "mfa:{t9}:none", limits, now=clock.time())
    assert unknown.status == "gone" and not unknown.burned
