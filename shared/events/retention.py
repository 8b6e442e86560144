"""Retention: old audit rows, outbox events every consumer is done with, and the recorded uses
of mfaTokens that have expired, deleted in batches.

Each batch is one short statement (a few thousand rows found through an index on time) and
the loop pauses between batches, so pruning never holds locks or a core for long: logins
running meanwhile touch only new rows and keep their pace (docs/performance.md, the scale
run). Run by the operators service every MFA_PRUNE_INTERVAL seconds and by `mfa-admin prune`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from shared.stores.database import Database

BATCH = 5000
PAUSE_S = 0.01  # between batches: other statements get their turn


@dataclass(frozen=True)
class Pruned:
    """Rows deleted by one run."""

    audit: int = 0
    outbox: int = 0
    token_uses: int = 0


async def delete_batched(db: Database, table: str, key: str, where: str, *args: object,
                         order: str = "", batch: int = BATCH, pause: float = PAUSE_S) -> int:
    """DELETE FROM table WHERE <where>, `batch` rows per statement (picked by `key`, in
    `order`), until a batch comes back short; the rows deleted."""
    n = len(args)
    sql = (f"DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} WHERE {where}"
           f"{f' ORDER BY {order}' if order else ''} LIMIT ${n + 1})")
    total = 0
    while True:
        done = await db.execute(sql, *args, batch)
        total += done
        if done < batch:
            return total
        await asyncio.sleep(pause)


async def prune_audit(db: Database, before: float, *, batch: int = BATCH) -> int:
    """Audit rows older than `before` (the index audit_events_at finds them)."""
    return await delete_batched(db, "audit_events", "id", "at < $1", before, order="at",
                                batch=batch)


async def clear_token_uses(db: Database, now: float, *, batch: int = BATCH) -> int:
    """Recorded uses of mfaTokens expired by `now` (such a token is refused before any use)."""
    return await delete_batched(db, "mfa_token_uses", "token_hash", "expires_at < $1", now,
                                batch=batch)


async def prune_outbox(db: Database, before: float, *, webhooks: bool, notifications: bool,
                       batch: int = BATCH) -> int:
    """Outbox events older than `before` that every configured consumer is done with
    (`webhooks`/`notifications`: whether that consumer runs); their audit rows stay."""
    done = [c for c, on in (("delivered_at IS NOT NULL", webhooks),
                            ("notified_at > 0", notifications)) if on]
    return await delete_batched(db, "outbox_events", "id",
                                "at < $1" + "".join(f" AND {c}" for c in done), before,
                                order="at", batch=batch)


async def prune(db: Database, *, now: float, audit_days: float, outbox_days: float,
                webhooks: bool, notifications: bool, batch: int = BATCH) -> Pruned:
    """One run: audit rows past `audit_days` (0: kept for ever), outbox events past
    `outbox_days` (0: kept), and expired mfaToken uses (always)."""
    return Pruned(
        audit=await prune_audit(db, now - audit_days * 86400, batch=batch)
        if audit_days > 0 else 0,
        outbox=await prune_outbox(db, now - outbox_days * 86400, webhooks=webhooks,
                                  notifications=notifications, batch=batch)
        if outbox_days > 0 else 0,
        token_uses=await clear_token_uses(db, now, batch=batch))
