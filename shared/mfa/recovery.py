"""Recovery codes: one per user, >= 80 bits, shown once, stored as a peppered HMAC."""

from __future__ import annotations

import base64
import secrets

from shared.clock import Clock
from shared.crypto import CodeHasher
from shared.stores.database import Database

_PURPOSE = "recovery"


def new_recovery_code() -> str:
    """100 random bits as 20 base32 characters in groups of five."""
    raw = base64.b32encode(secrets.token_bytes(15)).decode().rstrip("=")[:20]
    return "-".join(raw[i:i + 5] for i in range(0, 20, 5))


def normalise(code: str) -> str:
    """Accept the code with or without dashes, spaces or lower case."""
    return "".join(ch for ch in code.upper() if ch.isalnum())


class _PepperedCodes:
    """Codes kept only as peppered HMACs (of their normalised form), one purpose each."""

    purpose = ""

    def __init__(self, db: Database, hasher: CodeHasher, clock: Clock) -> None:
        self._db = db
        self._h = hasher
        self._clock = clock

    def digest(self, code: str) -> str:
        """The stored form of a code."""
        return self._h.digest(self.purpose, normalise(code))


class RecoveryCodes(_PepperedCodes):
    """The user records that hold each user's recovery code (and email, for recovery)."""

    purpose = _PURPOSE

    async def remember_email(self, tenant_id: str, user_id: str, email: str) -> None:
        """Keep the user's current email, by which recovery finds the user."""
        await self._db.execute(
            "INSERT INTO mfa_users (tenant_id, user_id, email, updated_at) VALUES ($1,$2,$3,$4) "
            "ON CONFLICT (tenant_id, user_id) DO UPDATE SET email = excluded.email, "
            "updated_at = excluded.updated_at WHERE mfa_users.email <> excluded.email",
            tenant_id, user_id, email.lower(), self._clock.time())

    async def remember_email_if_unknown(self, tenant_id: str, user_id: str, email: str) -> None:
        """Keep an email for a user whose address we do not know yet (an import): never over
        one a session start stored, which recovery and notifications rely on."""
        await self._db.execute(
            "INSERT INTO mfa_users (tenant_id, user_id, email, updated_at) VALUES ($1,$2,$3,$4) "
            "ON CONFLICT (tenant_id, user_id) DO UPDATE SET email = excluded.email, "
            "updated_at = excluded.updated_at WHERE mfa_users.email = ''",
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

    async def replace(self, tenant_id: str, user_id: str, email: str, code: str) -> None:
        """Make `code` the user's one recovery code; the old one stops working (a forced
        enrollment always shows a code, so the code it shows must be the one that works)."""
        await self._db.execute(
            "INSERT INTO mfa_users (tenant_id, user_id, email, recovery_hmac, updated_at) "
            "VALUES ($1,$2,$3,$4,$5) ON CONFLICT (tenant_id, user_id) DO UPDATE SET "
            "recovery_hmac = excluded.recovery_hmac, updated_at = excluded.updated_at",
            tenant_id, user_id, email.lower(), self.digest(code), self._clock.time())


SET_SIZE = 10
_SET_PURPOSE = "recovery-set"


class RecoverySets(_PepperedCodes):
    """A user's set of SET_SIZE single-use recovery codes beside Frontegg's one code: each kept
    only as a peppered HMAC; a used code's row is deleted by the one request that wins."""

    purpose = _SET_PURPOSE

    async def regenerate(self, tenant_id: str, user_id: str, email: str) -> list[str]:
        """A new set; the old set's codes stop working. Parallel calls leave exactly one set:
        the user's row is locked first, so the second waits and then deletes the first's."""
        codes = [new_recovery_code() for _ in range(SET_SIZE)]
        now = self._clock.time()
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO mfa_users (tenant_id, user_id, email, updated_at) "
                "VALUES ($1,$2,$3,$4) ON CONFLICT (tenant_id, user_id) DO UPDATE SET "
                "updated_at = excluded.updated_at", tenant_id, user_id, email.lower(), now)
            await tx.execute("DELETE FROM recovery_codes WHERE tenant_id = $1 AND user_id = $2",
                             tenant_id, user_id)
            for code in codes:
                await tx.execute(
                    "INSERT INTO recovery_codes (code_hmac, tenant_id, user_id, created_at) "
                    "VALUES ($1,$2,$3,$4)", self.digest(code), tenant_id, user_id, now)
        return codes

    async def remaining(self, tenant_id: str, user_id: str) -> tuple[int, float | None]:
        """How many unused codes the user's set holds, and when it was made."""
        row = await self._db.fetchrow(
            "SELECT COUNT(*) AS n, MAX(created_at) AS at FROM recovery_codes "
            "WHERE tenant_id = $1 AND user_id = $2", tenant_id, user_id)
        return (int(row["n"]), row["at"]) if row else (0, None)

    async def redeem_for_user(self, tenant_id: str, user_id: str, code: str) -> int | None:
        """Use one of the user's codes: the codes left after it for the one winner, else None."""
        async with self._db.transaction() as tx:
            if await tx.execute(
                    "DELETE FROM recovery_codes WHERE code_hmac = $1 AND tenant_id = $2 "
                    "AND user_id = $3", self.digest(code), tenant_id, user_id) != 1:
                return None
            row = await tx.fetchrow("SELECT COUNT(*) AS n FROM recovery_codes "
                                    "WHERE tenant_id = $1 AND user_id = $2", tenant_id, user_id)
        return int(row["n"]) if row else 0

    async def redeem_by_email(self, email: str, code: str) -> tuple[str, str, int] | None:
        """Use a code found by the user's email: (tenant, user, codes left) for the winner."""
        row = await self._db.fetchrow(
            "SELECT c.tenant_id, c.user_id FROM recovery_codes c JOIN mfa_users u "
            "ON u.tenant_id = c.tenant_id AND u.user_id = c.user_id "
            "WHERE c.code_hmac = $1 AND u.email = $2", self.digest(code), email.lower())
        if row is None:
            return None
        left = await self.redeem_for_user(row["tenant_id"], row["user_id"], code)
        return None if left is None else (row["tenant_id"], row["user_id"], left)
