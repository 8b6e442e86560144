"""The audit trail for operators: filtered queries with keyset cursor pagination (stable under
concurrent writes: a page never repeats or skips a row), and a JSON-lines export."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from shared.http.errors import BadRequest
from shared.mfa.resets import iso
from shared.stores.database import Database, Row

MAX_PAGE = 500


@dataclass(frozen=True)
class AuditFilter:
    """What to select: any of tenant, user, factor, action, and a time range [since, until)."""

    tenant_id: str | None = None
    user_id: str | None = None
    factor: str | None = None
    action: str | None = None
    since: float | None = None
    until: float | None = None


def encode_cursor(row: Row) -> str:
    """The position after `row`: its (at, id), opaque to the caller."""
    raw = json.dumps([row["at"], row["id"]]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    """(at, id) of a cursor; 400 when it is not one of ours."""
    try:
        at, rid = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if isinstance(at, int | float) and isinstance(rid, str):
            return float(at), rid
    except (ValueError, TypeError):
        pass
    raise BadRequest("cursor: not a cursor this API returned", code="ER-MFA-VALIDATION")


def _where(f: AuditFilter, after: tuple[float, str] | None) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    for column, value in (("tenant_id", f.tenant_id), ("user_id", f.user_id),
                          ("factor", f.factor), ("action", f.action)):
        if value is not None:
            args.append(value)
            clauses.append(f"{column} = ${len(args)}")
    if f.since is not None:
        args.append(f.since)
        clauses.append(f"at >= ${len(args)}")
    if f.until is not None:
        args.append(f.until)
        clauses.append(f"at < ${len(args)}")
    if after is not None:
        args += [after[0], after[1]]
        n = len(args)
        clauses.append(f"(at > ${n - 1} OR (at = ${n - 1} AND id > ${n}))")
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


def event_json(row: Row) -> dict[str, Any]:
    """One audit row as the API shows it."""
    return {"id": row["id"], "at": iso(row["at"]), "tenantId": row["tenant_id"],
            "userId": row["user_id"], "factor": row["factor"], "action": row["action"],
            "outcome": row["outcome"], "deviceId": row["device_id"],
            "requestId": row["request_id"], "detail": json.loads(row["detail"] or "{}")}


async def page(db: Database, f: AuditFilter, *, cursor: str | None = None,
               limit: int = 100) -> tuple[list[Row], str | None]:
    """Up to `limit` rows after the cursor, oldest first, and the next page's cursor (None
    at the end)."""
    limit = max(1, min(limit, MAX_PAGE))
    where, args = _where(f, decode_cursor(cursor) if cursor else None)
    rows = await db.fetch(
        "SELECT id, at, tenant_id, user_id, factor, action, outcome, device_id, request_id, "
        f"detail FROM audit_events{where} ORDER BY at, id LIMIT ${len(args) + 1}",
        *args, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_cursor(rows[-1]) if more else None


async def export(db: Database, f: AuditFilter) -> AsyncIterator[str]:
    """Every matching row as one JSON line each, read page by page (constant memory)."""
    cursor: str | None = None
    while True:
        rows, cursor = await page(db, f, cursor=cursor, limit=MAX_PAGE)
        for row in rows:
            yield json.dumps(event_json(row), separators=(",", ":")) + "\n"
        if cursor is None:
            return


async def recent(db: Database, tenant_id: str, user_id: str, limit: int) -> list[Row]:
    """The user's latest `limit` rows, most recent first (the console's timeline)."""
    return await db.fetch(
        "SELECT id, at, tenant_id, user_id, factor, action, outcome, device_id, request_id, "
        "detail FROM audit_events WHERE tenant_id = $1 AND user_id = $2 "
        "ORDER BY at DESC, id DESC LIMIT $3", tenant_id, user_id, max(1, min(limit, MAX_PAGE)))
