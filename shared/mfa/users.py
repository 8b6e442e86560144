"""The per-user record beside the devices (mfa_users): when the user's factors last changed
outside the user's own session, which retires every bearer token issued before."""

from __future__ import annotations

from shared.clock import Clock
from shared.stores.database import Database


class UserRecords:
    """Reads and marks `factors_changed_at`."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def mark_factors_changed(self, tenant_id: str, user_id: str) -> None:
        """Record that the user's factors changed now (recovery, an operator's reset)."""
        await self._db.execute(
            "INSERT INTO mfa_users (tenant_id, user_id, updated_at, factors_changed_at) "
            "VALUES ($1,$2,$3,$3) ON CONFLICT (tenant_id, user_id) DO UPDATE SET "
            "factors_changed_at = excluded.factors_changed_at, updated_at = excluded.updated_at",
            tenant_id, user_id, self._clock.time())

    async def factors_changed_at(self, tenant_id: str, user_id: str) -> float | None:
        """When the user's factors last changed that way, or None."""
        row = await self._db.fetchrow(
            "SELECT factors_changed_at FROM mfa_users WHERE tenant_id = $1 AND user_id = $2",
            tenant_id, user_id)
        return None if row is None else row["factors_changed_at"]

    async def email_of(self, tenant_id: str, user_id: str) -> str | None:
        """The user's email as last seen at a session start, or None."""
        row = await self._db.fetchrow(
            "SELECT email FROM mfa_users WHERE tenant_id = $1 AND user_id = $2",
            tenant_id, user_id)
        return (row["email"] or None) if row else None

    async def user_by_email(self, tenant_id: str, email: str) -> str | None:
        """The one user of the tenant last seen with this email, or None (none, or several)."""
        found = await self.users_by_email(tenant_id, email, limit=2)
        return found[0] if len(found) == 1 else None

    async def users_by_email(self, tenant_id: str, email: str, limit: int = 20) -> list[str]:
        """The users of the tenant last seen with this email (the support console's search)."""
        rows = await self._db.fetch(
            "SELECT user_id FROM mfa_users WHERE tenant_id = $1 AND email = $2 "
            "ORDER BY user_id LIMIT $3", tenant_id, email.strip().lower(), limit)
        return [str(r["user_id"]) for r in rows]

    async def with_email(self, email: str, limit: int = 20) -> list[tuple[str, str]]:
        """(tenant, user) of every user last seen with this email, in any tenant (recovery
        finds users by email alone), at most `limit`."""
        rows = await self._db.fetch(
            "SELECT tenant_id, user_id FROM mfa_users WHERE email = $1 "
            "ORDER BY tenant_id, user_id LIMIT $2", email.strip().lower(), limit)
        return [(r["tenant_id"], r["user_id"]) for r in rows]
