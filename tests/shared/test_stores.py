"""One suite for both short-lived stores (Redis and memory) and both databases (Postgres and
SQLite): the embedded implementations must behave like the production ones."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from shared.clock import FrozenClock
from shared.crypto import CodeHasher
from shared.events.audit import AuditEvent, AuditLog
from shared.mfa.challenges import ChallengeStore, InvalidChallenge, UnknownChallenge
from shared.mfa.devices import Device, DeviceRepository, new_device_id
from shared.mfa.recovery import RecoveryCodes
from shared.stores.ephemeral import Ephemeral

HASHER = CodeHasher(b"k" * 32)


async def test_take_has_exactly_one_winner_among_50(eph: Ephemeral) -> None:
    await eph.put("k", {"a": 1}, 60)
    results = await asyncio.gather(*(eph.take("k") for _ in range(50)))
    assert [r for r in results if r is not None] == [{"a": 1}]
    assert await eph.get("k") is None


async def test_bump_counts_atomically_and_keeps_value(eph: Ephemeral) -> None:
    await eph.put("k", {"v": "x"}, 60)
    counts = await asyncio.gather(*(eph.bump("k") for _ in range(20)))
    assert sorted(c[1] for c in counts if c) == list(range(1, 21))
    assert await eph.bump("missing") is None


async def test_put_new_refuses_existing_key(eph: Ephemeral) -> None:
    assert await eph.put_new("n", {}, 60) is True
    assert await eph.put_new("n", {}, 60) is False
    assert 0 < await eph.ttl("n") <= 60


async def test_incr_counts_and_expires(eph: Ephemeral) -> None:
    assert [await eph.incr("c", 60) for _ in range(3)] == [1, 2, 3]
    assert await eph.delete("c") is True
    assert await eph.incr("c", 60) == 1


async def test_fifty_parallel_correct_answers_to_one_challenge_have_one_winner(
        eph: Ephemeral, clock: FrozenClock) -> None:
    store = ChallengeStore(eph, HASHER, clock)  # 5 attempts, far fewer than the 50 racers
    token = await store.create(purpose="p", tenant_id="t", user_id="u", ttl=300, code="123456")

    async def attempt() -> str:
        try:
            await store.verify(token, "123456", purpose="p", tenant_id="t", user_id="u")
            return "won"
        except UnknownChallenge:
            return "lost race"  # not a guess: callers do not count it as a failure
        except InvalidChallenge:
            return "counted"

    results = await asyncio.gather(*(attempt() for _ in range(50)))
    assert results.count("won") == 1
    assert results.count("lost race") == 49


async def test_challenge_dies_after_five_wrong_codes(eph: Ephemeral, clock: FrozenClock) -> None:
    store = ChallengeStore(eph, HASHER, clock)
    token = await store.create(purpose="p", tenant_id="t", user_id="u", ttl=300, code="123456")
    for _ in range(5):
        with pytest.raises(InvalidChallenge):
            await store.verify(token, "000000", purpose="p", tenant_id="t", user_id="u")
    with pytest.raises(InvalidChallenge):
        await store.verify(token, "123456", purpose="p", tenant_id="t", user_id="u")


@pytest.mark.parametrize("bind", [{"purpose": "other", "tenant_id": "t", "user_id": "u"},
                                  {"purpose": "p", "tenant_id": "t2", "user_id": "u"},
                                  {"purpose": "p", "tenant_id": "t", "user_id": "u2"}])
async def test_challenge_is_bound_to_purpose_tenant_and_user(
        eph: Ephemeral, clock: FrozenClock, bind: dict[str, str]) -> None:
    store = ChallengeStore(eph, HASHER, clock)
    token = await store.create(purpose="p", tenant_id="t", user_id="u", ttl=300, code="123456")
    with pytest.raises(InvalidChallenge):
        await store.verify(token, "123456", **bind)


async def test_expired_challenge_looks_like_unknown(eph: Ephemeral, clock: FrozenClock) -> None:
    store = ChallengeStore(eph, HASHER, clock)
    token = await store.create(purpose="p", tenant_id="t", user_id="u", ttl=300, code="123456")
    clock.advance(301)
    with pytest.raises(InvalidChallenge) as expired:
        await store.verify(token, "123456", purpose="p", tenant_id="t", user_id="u")
    with pytest.raises(InvalidChallenge) as unknown:
        await store.verify("nope", "123456", purpose="p", tenant_id="t", user_id="u")
    assert expired.value.body() == unknown.value.body()


def _device(**kw: Any) -> Device:
    base = {"id": new_device_id(), "tenant_id": "t-" + uuid.uuid4().hex[:6], "user_id": "u",
            "kind": "totp", "created_at": 1.0}
    return Device(**{**base, **kw})


async def test_device_repository_scopes_devices_to_their_user(db: Any) -> None:
    repo = DeviceRepository(db)
    d = _device(data={"phoneMasked": "+1*****11"}, kind="sms")
    await repo.add(d)
    assert await repo.get(d.tenant_id, d.user_id, d.id) == d
    assert await repo.get(d.tenant_id, "someone-else", d.id) is None
    assert await repo.delete(d.tenant_id, "someone-else", d.id) is False
    assert [x.id for x in await repo.list_for_user(d.tenant_id, d.user_id)] == [d.id]


async def test_advance_step_accepts_each_time_step_once_under_concurrency(db: Any) -> None:
    repo = DeviceRepository(db)
    d = _device()
    await repo.add(d)
    audit = AuditLog(db, FrozenClock())
    event = AuditEvent(d.tenant_id, d.user_id, "totp", "verify", "success", d.id)

    async def advance(step: int) -> bool:
        return await repo.advance_step(d.id, step, 2.0, audit=audit, event=event)

    wins = await asyncio.gather(*(advance(1000) for _ in range(50)))
    assert wins.count(True) == 1
    assert await advance(999) is False
    assert await advance(1001) is True
    # The success's audit row is written with the step, and only with it.
    assert len(await audit.for_user(d.tenant_id, d.user_id)) == 2


async def test_sign_count_compare_and_set(db: Any) -> None:
    repo = DeviceRepository(db)
    d = _device(kind="webauthn", lookup="cred-" + uuid.uuid4().hex)
    await repo.add(d)
    assert await repo.update_sign_count(d.id, 0, 5, 1.0) is True
    assert await repo.update_sign_count(d.id, 0, 6, 1.0) is False
    assert (await repo.find_by_lookup("webauthn", d.lookup or "")).sign_count == 5


async def test_recovery_code_is_issued_once_and_redeemed_once(db: Any, clock: FrozenClock
                                                              ) -> None:
    rec = RecoveryCodes(db, HASHER, clock)
    t, email = "t-" + uuid.uuid4().hex[:6], f"{uuid.uuid4().hex[:6]}@x.test"
    code = await rec.issue_if_missing(t, "u", email)
    assert code and len(code.replace("-", "")) == 20
    assert await rec.issue_if_missing(t, "u", email) is None
    results = await asyncio.gather(*(rec.redeem_by_email(email, code.lower())
                                     for _ in range(20)))
    assert [r for r in results if r] == [(t, "u")]
    assert await rec.has_code(t, "u") is False
