"""Recovery codes: one per user, >= 80 bits, shown once, stored as a peppered HMAC."""

from __future__ import annotations

import base64
import secrets

from shared.clock import Clock
from shared.crypto import CodeHasher
from shared.database import Database

_PURPOSE = "recovery"


def new_recovery_code() -> str:
    """100 random bits as 20 base32 characters in groups of five."""
    raw = base64.b32encode(secrets.token_bytes(15)).decode().rstrip("=")[:20]
    return "-".join(raw[i:i + 5] for i in range(0, 20, 5))


def normalise(code: str) -> str:
    """Accept the code with or without dashes, spaces or lower case."""
    return "".join(ch for ch in code.upper() if ch.isalnum())


class RecoveryCodes:
    """The user records that hold each user's recovery code (and email, for recovery)."""

    def __init__(self, db: Database, hasher: CodeHasher, clock: Clock) -> None:
        self._db = db
        self._h = hasher
        self._clock = clock

    def digest(self, code: str) -> str:
        """The stored form of a code."""
        return self._h.digest(_PURPOSE, normalise(code))

    async def remember_email(self, tenant_id: str, user_id: str, email: str) -> None:
        """Keep the user's current email, by which recovery finds the user."""
        await self._db.execute(
            "INSERT INTO mfa_users (tenant_id, user_id, email, updated_at) VALUES ($1,$2,$3,$4) "
            "ON CONFLICT (tenant_id, user_id) DO UPDATE SET email = excluded.email, "
            "updated_at = excluded.updated_at WHERE mfa_users.email <> excluded.email",
            tenant_id, user_id, email.lower(), self._clock.time())

    async def has_code(self, tenant_id: str, user_id: str) -> bool:
        """Whether the user holds an unused recovery code."""
        row = await self._db.fetchrow(
            "SELECT recovery_hmac FROM mfa_users WHERE tenant_id = $1 AND user_id = $2",
            tenant_id, user_id)
        return bool(row and row["recovery_hmac"])

    async def issue_if_missing(self, tenant_id: str, user_id: str, email: str,
                               code: str | None = None) -> str | None:
        """Give the user a code unless they have one; the new code, or None (race-safe)."""
        code = code or new_recovery_code()
        changed = await self._db.execute(
            "INSERT INTO mfa_users (tenant_id, user_id, email, recovery_hmac, updated_at) "
            "VALUES ($1,$2,$3,$4,$5) ON CONFLICT (tenant_id, user_id) DO UPDATE SET "
            "recovery_hmac = excluded.recovery_hmac, updated_at = excluded.updated_at "
            "WHERE mfa_users.recovery_hmac IS NULL",
            tenant_id, user_id, email.lower(), self.digest(code), self._clock.time())
        return code if changed == 1 else None

    async def redeem_by_email(self, email: str, code: str) -> tuple[str, str] | None:
        """Use a code found by email; (tenant, user) for the one caller that wins."""
        row = await self._db.fetchrow(
            "UPDATE mfa_users SET recovery_hmac = NULL, updated_at = $3 "
            "WHERE recovery_hmac = $1 AND email = $2 RETURNING tenant_id, user_id",
            self.digest(code), email.lower(), self._clock.time())
        return None if row is None else (row["tenant_id"], row["user_id"])

    async def redeem_for_user(self, tenant_id: str, user_id: str, code: str) -> bool:
        """Use the user's own code (profile page's disable); True for the one winner."""
        return await self._db.execute(
            "UPDATE mfa_users SET recovery_hmac = NULL, updated_at = $4 "
            "WHERE tenant_id = $1 AND user_id = $2 AND recovery_hmac = $3",
            tenant_id, user_id, self.digest(code), self._clock.time()) == 1
