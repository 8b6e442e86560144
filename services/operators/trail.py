"""The audit trail for operators: filtered queries with keyset cursor pagination (stable under
concurrent writes: a page never repeats or skips a row), a JSON-lines export, and why a user is
locked out (`explain_lockout`: each factor's state, its threshold, when it lifts, and the
attempts with their addresses and agents; `render_explanation` prints it for the CLI).
Everything here returns plain JSON-ready values, for the admin API, the CLI and the console."""

from __future__ import annotations

import base64
import json
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from shared.http.errors import BadRequest
from shared.mfa.registry import LOCKOUT_FACTORS
from shared.mfa.resets import iso
from shared.stores.bundle import Stores
from shared.stores.database import Database, Row

MAX_PAGE = 500
_COLS = ("id, at, tenant_id, user_id, factor, action, outcome, device_id, request_id, detail, "
         "client_ip, user_agent, trace_id, lock_threshold, attempts, last_at")
# The rows a lockout's timeline shows: the attempts, and what resets the count.
TIMELINE_ACTIONS = ("verify", "failure", "lockout", "refused", "unlock", "reset", "recovery")
TIMELINE_MAX = 200


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
    """One audit row as the API shows it: who tried (clientIp, userAgent: the label, never
    the header), the request and trace ids, the lock threshold that applied, and for a group
    of refused attempts their count and the last one's time."""
    return {"id": row["id"], "at": iso(row["at"]), "tenantId": row["tenant_id"],
            "userId": row["user_id"], "factor": row["factor"], "action": row["action"],
            "outcome": row["outcome"], "deviceId": row["device_id"],
            "requestId": row["request_id"], "detail": json.loads(row["detail"] or "{}"),
            "clientIp": row["client_ip"], "userAgent": row["user_agent"],
            "traceId": row["trace_id"], "lockThreshold": row["lock_threshold"],
            "count": row["attempts"], "lastAt": iso(row["last_at"])}


async def page(db: Database, f: AuditFilter, *, cursor: str | None = None,
               limit: int = 100) -> tuple[list[Row], str | None]:
    """Up to `limit` rows after the cursor, oldest first, and the next page's cursor (None
    at the end)."""
    limit = max(1, min(limit, MAX_PAGE))
    where, args = _where(f, decode_cursor(cursor) if cursor else None)
    rows = await db.fetch(
        f"SELECT {_COLS} FROM audit_events{where} ORDER BY at, id LIMIT ${len(args) + 1}",
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
        f"SELECT {_COLS} FROM audit_events WHERE tenant_id = $1 AND user_id = $2 "
        "ORDER BY at DESC, id DESC LIMIT $3", tenant_id, user_id, max(1, min(limit, MAX_PAGE)))


def _placeholders(start: int, count: int) -> str:
    return ",".join(f"${start + i}" for i in range(count))


def _lifts(locked: bool, retry_after: float, lock_ttl: float, now: float
           ) -> tuple[str | None, str]:
    """When and how a factor's lockout lifts: (time or None, how)."""
    if locked:
        if 0 < lock_ttl < math.inf:
            return iso(now + lock_ttl), ("when the lock expires (each attempt while locked "
                                         "restarts MFA_LOCKOUT_TTL), or earlier by a recovery "
                                         "or an operator's unlock; even a right code is "
                                         "refused while locked")
        return None, ("by a recovery (the user's recovery code) or an operator's unlock; even "
                      "a right code is refused while locked")
    if retry_after > 0:
        return iso(now + retry_after), ("after the delay; the next failure doubles it, a "
                                        "success resets the count")
    return None, "not locked"


async def explain_lockout(stores: Stores, tenant_id: str, user_id: str, *,
                          factor: str | None = None, since: float | None = None
                          ) -> dict[str, Any]:
    """Why the user is (or was) locked out: per factor, the consecutive failures now, locked
    or delayed, the threshold that locks it (the tenant's lockout policy, or the
    deployment's), when and how it lifts; and the timeline (oldest first, the last
    TIMELINE_MAX rows since `since`, default 30 days) of its attempts, refusals and resets,
    each with its address, agent, request and trace ids and the threshold that applied."""
    if factor is not None and factor not in LOCKOUT_FACTORS:
        raise BadRequest(f"factor: one of {', '.join(LOCKOUT_FACTORS)}",
                         code="ER-MFA-VALIDATION")
    now = stores.clock.time()
    kinds = [factor] if factor else list(LOCKOUT_FACTORS)
    threshold = await stores.lockout.tenant_lock_at(tenant_id, now=now)
    out_factors = []
    for kind in kinds:
        state = await stores.lockout.state(tenant_id, user_id, kind, now=now)
        ttl = (await stores.eph.ttl(stores.lockout.key(tenant_id, user_id, kind))
               if state.locked else 0.0)
        lifts_at, how = _lifts(state.locked, state.retry_after, ttl, now)
        out_factors.append({"factor": kind, "failures": state.failures, "locked": state.locked,
                            "retryAfter": int(state.retry_after), "threshold": threshold,
                            "liftsAt": lifts_at, "lifts": how})
    shown = [*kinds, "all"]  # an unlock or reset of every factor shows too
    factors_in = _placeholders(4, len(shown))
    actions_in = _placeholders(4 + len(shown), len(TIMELINE_ACTIONS))
    rows = await stores.db.fetch(
        f"SELECT {_COLS} FROM audit_events WHERE tenant_id = $1 AND user_id = $2 AND at >= $3 "
        f"AND factor IN ({factors_in}) AND action IN ({actions_in}) "
        f"ORDER BY at DESC, id DESC LIMIT {TIMELINE_MAX + 1}",
        tenant_id, user_id, since if since is not None else now - 30 * 86400,
        *shown, *TIMELINE_ACTIONS)
    return {"tenantId": tenant_id, "userId": user_id, "at": iso(now), "factors": out_factors,
            "timeline": [event_json(r) for r in reversed(rows[:TIMELINE_MAX])],
            "truncated": len(rows) > TIMELINE_MAX}


def _who(e: dict[str, Any]) -> str:
    return f"{e['clientIp'] or '-':<24} {e['userAgent'] or '-':<22}"


def _what(e: dict[str, Any]) -> str:
    detail = e["detail"]
    if e["action"] == "refused":
        return f"refused x{e['count']} ({detail.get('reason', '?')})"
    if e["action"] in ("failure", "lockout"):
        text = f"{e['action']} #{detail.get('consecutive', '?')}"
        return text + (f" ({detail['reason']})" if detail.get("reason") else "")
    if e["action"] in ("unlock", "reset"):
        return f"{e['action']} by {detail.get('actor', '?')}"
    return e["action"] + ("" if e["outcome"] == "success" else f" ({e['outcome']})")


def render_explanation(x: dict[str, Any]) -> str:
    """`explain_lockout`'s answer as text for a terminal: each factor's state, threshold and
    when it lifts, then the timeline with addresses and agents."""
    lines = [f"User {x['userId']} of tenant {x['tenantId']}, at {x['at']}", ""]
    for f in x["factors"]:
        if f["locked"]:
            state = f"LOCKED after {f['failures']} consecutive failures"
        elif f["retryAfter"]:
            state = f"delayed {f['retryAfter']} s ({f['failures']} consecutive failures)"
        else:
            state = f"not locked ({f['failures']} consecutive failures)"
        lines.append(f"  {f['factor']:<9} {state}; locks at {f['threshold']}")
        if f["locked"] or f["retryAfter"]:
            when = f" at {f['liftsAt']}" if f["liftsAt"] else ""
            lines.append(f"  {'':<9} lifts{when}: {f['lifts']}")
    lines += ["", "Timeline, oldest first" + (" (the latest rows only)" if x["truncated"]
                                                else "") + ":"]
    if not x["timeline"]:
        lines.append("  (no attempts recorded in the period)")
    for e in x["timeline"]:
        threshold = f"threshold {e['lockThreshold']}" if e["lockThreshold"] else ""
        ids = f"request {e['requestId'] or '-'}" + (f" trace {e['traceId']}" if e["traceId"]
                                                     else "")
        lines.append(f"  {e['at']}  {e['factor']:<9} {_what(e):<26} {_who(e)} "
                     f"{threshold:<13} {ids}".rstrip())
    return "\n".join(lines) + "\n"
