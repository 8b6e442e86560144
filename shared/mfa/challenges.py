"""One-time challenges (SMS/email codes, WebAuthn challenges) behind an otcToken.

Following Ory Kratos: the attempt is counted before the code is compared, expired looks like
unknown, and the consume is atomic, so of two parallel correct answers exactly one wins.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, field
from typing import Any

from shared.clock import Clock
from shared.crypto import CodeHasher, new_token, token_hash
from shared.http.errors import BadRequest
from shared.stores.ephemeral import Ephemeral


@dataclass(frozen=True)
class Challenge:
    """A pending one-time challenge bound to a purpose, tenant, user and device."""

    purpose: str
    tenant_id: str
    user_id: str
    expires_at: float
    device_id: str | None = None
    code_hmac: str = ""
    data: dict[str, Any] = field(default_factory=dict)


class InvalidChallenge(BadRequest):
    """Wrong, expired, unknown, foreign or already used: one answer for all."""

    code = "ER-MFA-INVALID-CODE"
    default_message = "Invalid or expired code"


class UnknownChallenge(InvalidChallenge):
    """No live challenge behind the token (never issued, expired, used, or lost a parallel
    race to the one winner): the same answer as any invalid code. Callers treat it like
    InvalidChallenge; the attempt was already counted by their reservation (shared.mfa.flow)."""


class ChallengeStore:
    """Creates, verifies and consumes challenges."""

    def __init__(self, eph: Ephemeral, hasher: CodeHasher, clock: Clock,
                 *, max_attempts: int = 5) -> None:
        self._eph = eph
        self._h = hasher
        self._clock = clock
        self._max = max_attempts

    @staticmethod
    def _key(token: str) -> str:
        return f"otc:{token_hash(token)}"

    async def create(self, *, purpose: str, tenant_id: str, user_id: str, ttl: int,
                     code: str = "", device_id: str | None = None,
                     data: dict[str, Any] | None = None) -> str:
        """Store a challenge; returns its otcToken (the code is kept only as an HMAC)."""
        token = new_token()
        c = Challenge(purpose=purpose, tenant_id=tenant_id, user_id=user_id,
                      expires_at=self._clock.time() + ttl, device_id=device_id,
                      code_hmac=self._h.digest(purpose, code) if code else "", data=data or {})
        await self._eph.put(self._key(token), asdict(c), ttl)
        return token

    def _bound(self, rec: dict[str, Any], purpose: str, tenant_id: str, user_id: str) -> bool:
        return (rec.get("purpose") == purpose and rec.get("tenant_id") == tenant_id
                and rec.get("user_id") == user_id and rec.get("expires_at", 0) > self._clock.time())

    async def verify(self, token: str, code: str, *, purpose: str, tenant_id: str,
                     user_id: str) -> Challenge:
        """Count the attempt, compare in constant time, consume; raise InvalidChallenge."""
        if not token or len(token) > 200:
            raise InvalidChallenge()
        key = self._key(token)
        res = await self._eph.bump(key)
        if res is None:
            self._h.matches(purpose, code, "0" * 64)  # same work as a known challenge
            raise UnknownChallenge()
        rec, attempts = res
        ok = self._h.matches(purpose, code, rec.get("code_hmac") or secrets.token_hex(32))
        if not self._bound(rec, purpose, tenant_id, user_id):
            raise InvalidChallenge()
        if attempts > self._max:
            # Not deleted: the count only grows, so the challenge stays dead until its TTL, and
            # a parallel correct attempt already past this check can still be the one winner.
            # A correct code over the limit can only be a parallel duplicate of the winner's:
            # it is answered as a lost race, not as "too many attempts".
            if ok:
                raise UnknownChallenge()
            raise InvalidChallenge("Too many attempts, request a new code",
                                   code="ER-MFA-CODE-ATTEMPTS")
        if not ok:
            if attempts >= self._max:
                await self._eph.delete(key)
            raise InvalidChallenge()
        if await self._eph.take(key) is None:
            raise UnknownChallenge()
        return Challenge(**rec)

    async def consume(self, token: str, *, purpose: str, tenant_id: str,
                      user_id: str) -> Challenge:
        """Take a code-less challenge (WebAuthn) exactly once; raise InvalidChallenge."""
        if not token or len(token) > 200:
            raise InvalidChallenge()
        rec = await self._eph.take(self._key(token))
        if rec is None or not self._bound(rec, purpose, tenant_id, user_id):
            raise InvalidChallenge()
        return Challenge(**rec)

    async def peek(self, token: str) -> Challenge | None:
        """Read without consuming (e.g. to know the device a disable challenge is for)."""
        if not token or len(token) > 200:
            return None
        rec = await self._eph.get(self._key(token))
        return None if rec is None or rec.get("expires_at", 0) <= self._clock.time() \
            else Challenge(**rec)
