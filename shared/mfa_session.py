"""The MFA session behind an mfaToken: hash-only, TTL, failure count, single use."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from shared.clock import Clock
from shared.crypto import new_token, token_hash
from shared.ephemeral import Ephemeral


@dataclass(frozen=True)
class MfaSession:
    """A user between the password step and the second factor."""

    key: str
    tenant_id: str
    user_id: str
    email: str
    expires_at: float
    phone_number: str | None = None
    purpose: str = "login"
    extra: dict[str, Any] = field(default_factory=dict)


class MfaSessionStore:
    """Creates and consumes mfaToken sessions; Redis keeps only the token's hash."""

    def __init__(self, eph: Ephemeral, clock: Clock, *, ttl: int, max_failures: int) -> None:
        self._eph = eph
        self._clock = clock
        self._ttl = ttl
        self._max = max_failures

    async def create(self, *, tenant_id: str, user_id: str, email: str,
                     phone_number: str | None = None, purpose: str = "login",
                     extra: dict[str, Any] | None = None) -> tuple[str, MfaSession]:
        """A new session; the mfaToken (256 random bits) is returned once and never stored."""
        token = new_token()
        s = MfaSession(key=f"mfa:{token_hash(token)}", tenant_id=tenant_id, user_id=user_id,
                       email=email, phone_number=phone_number, purpose=purpose,
                       expires_at=self._clock.time() + self._ttl, extra=extra or {})
        body = asdict(s)
        del body["key"]
        await self._eph.put(s.key, body, self._ttl)
        return token, s

    async def load(self, token: str) -> MfaSession | None:
        """The live session of a token, or None (expired looks exactly like unknown)."""
        if not token or len(token) > 200:
            return None
        key = f"mfa:{token_hash(token)}"
        rec = await self._eph.get(key)
        if rec is None or rec.get("expires_at", 0) <= self._clock.time():
            return None
        return MfaSession(key=key, **rec)

    async def fail(self, s: MfaSession) -> bool:
        """Count a failed verification; True when this failure burned the session."""
        res = await self._eph.bump(s.key)
        if res is not None and res[1] >= self._max:
            await self._eph.delete(s.key)
            return True
        return res is None

    async def consume(self, s: MfaSession) -> bool:
        """Single use: True for exactly one caller."""
        return await self._eph.take(s.key) is not None

    def side_key(self, s: MfaSession, name: str) -> str:
        """A key for state that belongs to this session (pending enrollments)."""
        return f"{s.key}:{name}"

    def remaining(self, s: MfaSession) -> float:
        """Seconds the session has left."""
        return max(1.0, s.expires_at - self._clock.time())
