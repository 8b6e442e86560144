"""Retention (shared.events.retention, `mfa-admin prune`): old audit rows, outbox events and
expired mfaToken uses deleted in batches while logins run, the new rows kept; the command."""

from __future__ import annotations

import asyncio
import json

from shared.events import retention
from shared.stores.database import Database
from tests.conftest import Ids, Stack
from tests.support.operator_access import cli
from tests.support.totp_flows import AUTH, STEP, code, enroll, login

OLD = 1_000_000.0  # January 1970: every row before it was written by this test
USERS, ROUNDS = 8, 3
AUDIT, OUTBOX, USES, BATCH = 12_000, 3_000, 3_000, 500

_SERIES = "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < $1) "


async def _old_rows(db: Database, tenant: str) -> None:
    """Rows to prune, written in one statement each (a recursive series: both databases)."""
    await db.execute(
        _SERIES + "INSERT INTO audit_events (id, at, tenant_id, user_id, factor, action, "
        "outcome, detail) SELECT $2 || n, n, $3, 'old', 'totp', 'verify', 'success', '{}' "
        "FROM g", AUDIT, f"old-{tenant}-", tenant)
    await db.execute(
        _SERIES + "INSERT INTO outbox_events (id, at, tenant_id, user_id, type, payload, "
        "delivered_at, notified_at) SELECT $2 || n, n, $3, 'old', 'mfa.factor.enrolled', "
        "'{}', n, n FROM g", OUTBOX, f"old-out-{tenant}-", tenant)
    await db.execute(_SERIES + "INSERT INTO mfa_token_uses (token_hash, expires_at) "
                     "SELECT $2 || n, n FROM g", USES, f"old-use-{tenant}-")


async def _count(db: Database, sql: str, *args: object) -> int:
    row = await db.fetchrow(f"SELECT count(*) AS n FROM {sql}", *args)
    assert row is not None
    return int(row["n"])


async def test_pruning_in_batches_while_logins_run(stack: Stack, ids: Ids) -> None:
    people = [ids] + [ids.other() for _ in range(USERS - 1)]
    seeds = [(await enroll(stack, who))[0] for who in people]
    db = stack.stores.db
    await _old_rows(db, ids.tenant)
    recent_before = await _count(db, "audit_events WHERE tenant_id = $1 AND at > $2",
                                 ids.tenant, OLD)

    async def logins() -> list[int]:
        statuses = []
        for _ in range(ROUNDS):  # each round: every user at once, then the next TOTP step
            tokens = [await login(stack, who) for who in people]
            answers = await asyncio.gather(*(
                stack.http.post(f"{stack.url}/frontegg/identity{AUTH}/verify",
                                json={"mfaToken": t, "value": code(stack, s)})
                for t, s in zip(tokens, seeds, strict=True)))
            statuses += [a.status for a in answers]
            stack.clock.advance(STEP)
        return statuses

    async def prune() -> tuple[int, int, int]:
        return (await retention.prune_audit(db, OLD, batch=BATCH),
                await retention.prune_outbox(db, OLD, webhooks=True, notifications=True,
                                             batch=BATCH),
                await retention.clear_token_uses(db, OLD, batch=BATCH))

    statuses, pruned = await asyncio.gather(logins(), prune())
    assert statuses == [200] * USERS * ROUNDS
    # (>=: the run's shared database may hold another test's rows from 1970)
    assert all(n >= want for n, want in zip(pruned, (AUDIT, OUTBOX, USES), strict=True))
    assert await _count(db, "audit_events WHERE at < $1", OLD) == 0
    assert await _count(db, "outbox_events WHERE at < $1", OLD) == 0
    assert await _count(db, "mfa_token_uses WHERE expires_at < $1", OLD) == 0
    # What the logins wrote stays: a success row each, and their tokens' uses.
    recent = await _count(db, "audit_events WHERE tenant_id = $1 AND at > $2", ids.tenant, OLD)
    assert recent == recent_before + USERS * ROUNDS
    assert await _count(db, "mfa_token_uses WHERE expires_at > $1",
                        stack.clock.time()) >= USERS * ROUNDS


async def test_the_prune_command_keeps_what_its_retention_keeps(
        stack: Stack, ids: Ids, keys: dict[str, str]) -> None:
    db = stack.stores.db
    await _old_rows(db, ids.tenant)
    # 36,500 days reach back to 1926: the rows of 1970 stay; 0 keeps the outbox; expired
    # mfaToken uses always go.
    out, _ = await cli(stack, keys, "prune", "--audit-days", "36500", "--outbox-days", "0")
    result = json.loads(out)
    assert (result["audit"], result["outbox"]) == (0, 0) and result["token_uses"] >= USES
    assert await _count(db, "audit_events WHERE tenant_id = $1 AND at < $2",
                        ids.tenant, OLD) == AUDIT
    assert await _count(db, "outbox_events WHERE tenant_id = $1 AND at < $2",
                        ids.tenant, OLD) == OUTBOX
    if stack.mode == "embedded":  # its own database: a short retention may run
        out, _ = await cli(stack, keys, "prune", "--audit-days", "1", "--outbox-days", "1")
        assert json.loads(out)["audit"] >= AUDIT
    else:  # the run's shared database: only this file's rows of 1970
        await retention.prune_audit(db, OLD)
        await retention.prune_outbox(db, OLD, webhooks=False, notifications=False)
    assert await _count(db, "audit_events WHERE at < $1", OLD) == 0
