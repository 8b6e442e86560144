"""The outbox: written with its audit row, atomically, on both databases; read in order."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from shared.clock import FrozenClock
from shared.events.audit import AuditLog
from shared.events.outbox import Outbox
from shared.mfa.remember import RememberedDevices


def _who() -> tuple[str, str]:
    return "t-" + uuid.uuid4().hex[:8], "u-" + uuid.uuid4().hex[:8]


async def _refuse_outbox_inserts(db: Any) -> None:
    """A trigger that makes every outbox insert fail (a fault between the two writes)."""
    if db.dialect == "sqlite":
        await db.execute("CREATE TRIGGER refuse_outbox BEFORE INSERT ON outbox_events "
                         "BEGIN SELECT RAISE(ABORT, 'refused'); END")
        return
    await db.execute("CREATE OR REPLACE FUNCTION refuse_outbox() RETURNS trigger AS "
                     "$$ BEGIN RAISE EXCEPTION 'refused'; END $$ LANGUAGE plpgsql")
    await db.execute("CREATE TRIGGER refuse_outbox BEFORE INSERT ON outbox_events "
                     "FOR EACH ROW EXECUTE FUNCTION refuse_outbox()")


async def _allow_outbox_inserts(db: Any) -> None:
    await db.execute("DROP TRIGGER refuse_outbox" + ("" if db.dialect == "sqlite"
                                                     else " ON outbox_events"))


async def test_an_event_that_matters_outside_gets_an_outbox_row_with_its_audit_row(
        db: Any, clock: FrozenClock) -> None:
    t, u = _who()
    audit, outbox = AuditLog(db, clock), Outbox(db, clock)
    await audit.record(tenant_id=t, user_id=u, factor="totp", action="enroll",
                       outcome="success", device_id="d1")
    await audit.record(tenant_id=t, user_id=u, factor="totp", action="verify",
                       outcome="success", device_id="d1")
    await audit.record(tenant_id=t, user_id=u, factor="totp", action="failure",
                       outcome="refused", device_id="d1")
    await audit.record(tenant_id=t, user_id=u, factor="totp", action="lockout",
                       outcome="refused", device_id="d1")
    events = await outbox.for_user(t, u)
    assert [e.type for e in events] == ["mfa.factor.enrolled", "mfa.factor.locked"]
    assert events[0].payload == {"id": events[0].id, "type": "mfa.factor.enrolled",
                                 "at": clock.time(), "tenantId": t, "userId": u,
                                 "factor": "totp", "deviceId": "d1", "detail": {}}
    assert len(await audit.for_user(t, u)) == 4


async def test_no_audit_row_is_kept_when_its_outbox_row_cannot_be_written(
        db: Any, clock: FrozenClock) -> None:
    t, u = _who()
    audit = AuditLog(db, clock)
    await _refuse_outbox_inserts(db)
    try:
        with pytest.raises(Exception, match="refused"):
            await audit.record(tenant_id=t, user_id=u, factor="totp", action="disable",
                               outcome="success", device_id="d1")
        await db.execute("INSERT INTO remembered_devices (token_hash, tenant_id, user_id, "
                         "expires_at, created_at) VALUES ($1,$2,$3,$4,$5)",
                         uuid.uuid4().hex, t, u, clock.time() + 60, clock.time())
        with pytest.raises(Exception, match="refused"):
            await RememberedDevices(db, clock, audit).revoke_all(t, u)
        # an event with no outbox row is not affected
        await audit.record(tenant_id=t, user_id=u, factor="totp", action="verify",
                           outcome="success", device_id="d1")
    finally:
        await _allow_outbox_inserts(db)
    assert [r["action"] for r in await audit.for_user(t, u)] == ["verify"]
    left = await db.fetch("SELECT user_id FROM remembered_devices WHERE tenant_id = $1", t)
    assert left == [{"user_id": u}], "the revocation was rolled back with its rows"


async def test_revoking_remembered_devices_raises_one_event_only_when_there_were_any(
        db: Any, clock: FrozenClock) -> None:
    t, u = _who()
    audit = AuditLog(db, clock)
    remembered = RememberedDevices(db, clock, audit)
    assert await remembered.revoke_all(t, u) is False
    for _ in range(3):
        await remembered.issue(t, u, 60)
    assert await remembered.revoke_all(t, u, {"cause": "test"}) is True
    events = await Outbox(db, clock).for_user(t, u)
    assert [(e.type, e.payload["detail"]) for e in events] == [
        ("mfa.remembered_devices.revoked", {"cause": "test"})]


async def test_undelivered_events_come_in_order_and_wait_behind_a_user_s_backed_off_event(
        db: Any, clock: FrozenClock) -> None:
    (t, u), (_, v) = _who(), _who()
    audit, outbox = AuditLog(db, clock), Outbox(db, clock)
    for user in (u, v, u):
        await audit.record(tenant_id=t, user_id=user, factor="sms", action="enroll",
                           outcome="success")
    mine = [e for e in await outbox.undelivered(10_000) if e.tenant_id == t]
    assert [e.user_id for e in mine] == [u, v, u]
    await outbox.retry_later(mine[0].id, 30, "HTTP 500")
    mine = [e for e in await outbox.undelivered(10_000) if e.tenant_id == t]
    assert [e.user_id for e in mine] == [v], "u's second event waits for its first"
    clock.advance(31)
    await outbox.mark_delivered(
        next(e.id for e in await outbox.undelivered(10_000) if e.user_id == v))
    mine = [e for e in await outbox.undelivered(10_000) if e.tenant_id == t]
    assert [(e.user_id, e.attempts) for e in mine] == [(u, 1), (u, 0)]


async def test_prune_keeps_what_a_running_consumer_still_needs(db: Any,
                                                               clock: FrozenClock) -> None:
    t, u = _who()
    audit, outbox = AuditLog(db, clock), Outbox(db, clock)
    for _ in range(3):
        await audit.record(tenant_id=t, user_id=u, factor="sms", action="enroll",
                           outcome="success")
    first, second, third = await outbox.for_user(t, u)
    await outbox.mark_delivered(first.id)
    await outbox.mark_delivered(second.id)
    await outbox.mark_notified(second.id)
    clock.advance(10)
    await outbox.prune(clock.time(), webhooks=True, notifications=True)
    assert [e.id for e in await outbox.for_user(t, u)] == [first.id, third.id]
    await outbox.prune(clock.time(), webhooks=True, notifications=False)
    assert [e.id for e in await outbox.for_user(t, u)] == [third.id]
    await outbox.prune(clock.time() - 20, webhooks=False, notifications=False)
    assert len(await outbox.for_user(t, u)) == 1, "younger than the cut"
    assert len(await audit.for_user(t, u)) == 3, "the audit trail keeps every row"
