"""Per-tenant MFA adoption for operators: users enrolled by factor, lockouts and codes sent in
a period (from the devices and the audit trail)."""

from __future__ import annotations

from typing import Any

from shared.mfa.resets import iso
from shared.stores.database import Database


async def adoption(db: Database, tenant_id: str, *, since: float, until: float | None,
                   now: float) -> dict[str, Any]:
    """Users known (who started an MFA session) and enrolled, by factor; lockouts and codes
    sent from `since` until `until` (exclusive; None: up to now, inclusive)."""
    by_kind = await db.fetch(
        "SELECT kind, COUNT(DISTINCT user_id) AS users FROM mfa_devices WHERE tenant_id = $1 "
        "GROUP BY kind ORDER BY kind", tenant_id)
    enrolled = await db.fetchrow(
        "SELECT COUNT(DISTINCT user_id) AS users FROM mfa_devices WHERE tenant_id = $1",
        tenant_id)
    known = await db.fetchrow("SELECT COUNT(*) AS users FROM mfa_users WHERE tenant_id = $1",
                              tenant_id)
    bound = "" if until is None else " AND at < $3"
    events = await db.fetch(
        f"SELECT action, factor, COUNT(*) AS n FROM audit_events WHERE tenant_id = $1 AND "
        f"at >= $2{bound} AND ((action = 'send' AND outcome = 'success') OR "
        "action = 'lockout') GROUP BY action, factor",
        tenant_id, since, *(() if until is None else (until,)))
    sent = {r["factor"]: int(r["n"]) for r in events if r["action"] == "send"}
    return {
        "tenantId": tenant_id, "from": iso(since), "to": iso(now if until is None else until),
        "usersKnown": int(known["users"]) if known else 0,
        "usersEnrolled": int(enrolled["users"]) if enrolled else 0,
        "enrolledByFactor": {r["kind"]: int(r["users"]) for r in by_kind},
        "lockouts": sum(int(r["n"]) for r in events if r["action"] == "lockout"),
        "codesSent": {"sms": sent.get("sms", 0), "email": sent.get("email", 0)},
    }
