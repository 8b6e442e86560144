"""Failures per (tenant, user, factor): growing delay from the 5th, locked at 50 (NIST 800-63B
5.2.2 allows at most 100 consecutive failures); a success resets. Separate from any password
counter."""

from __future__ import annotations

from shared.ephemeral import Ephemeral
from shared.errors import TooManyRequests
from shared.settings import Settings

_MAX_DELAY = 900


class Lockout:
    """Counts failures and refuses attempts while a delay runs or the factor is locked."""

    def __init__(self, eph: Ephemeral, settings: Settings) -> None:
        self._eph = eph
        self._s = settings

    @staticmethod
    def _keys(tenant_id: str, user_id: str, factor: str) -> tuple[str, str]:
        base = f"lock:{tenant_id}:{user_id}:{factor}"
        return base, base + ":wait"

    async def check(self, tenant_id: str, user_id: str, factor: str) -> None:
        """Raise 429 when the factor is locked or its delay has not passed."""
        count_key, wait_key = self._keys(tenant_id, user_id, factor)
        rec = await self._eph.get(wait_key)
        if rec is None:
            return
        if rec.get("locked"):
            raise TooManyRequests("This factor is locked after too many failed attempts",
                                  code="ER-MFA-LOCKED")
        raise TooManyRequests("Too many failed attempts, try again later",
                              retry_after=int(await self._eph.ttl(wait_key)) + 1,
                              code="ER-MFA-DELAY")

    async def failure(self, tenant_id: str, user_id: str, factor: str) -> int:
        """Count one failure; start the delay or the lock. The consecutive failure count."""
        count_key, wait_key = self._keys(tenant_id, user_id, factor)
        n = await self._eph.incr(count_key, self._s.lockout_window)
        if n >= self._s.lockout_max_failures:
            await self._eph.put(wait_key, {"locked": True}, self._s.lockout_window)
        elif n >= self._s.lockout_delay_after:
            delay = min(_MAX_DELAY, 2 ** (n - self._s.lockout_delay_after))
            await self._eph.put(wait_key, {"locked": False}, delay)
        return n

    async def success(self, tenant_id: str, user_id: str, factor: str) -> None:
        """A success resets the count (both keys in one round trip: every login pays it)."""
        await self._eph.delete(*self._keys(tenant_id, user_id, factor))

    async def reset(self, tenant_id: str, user_id: str, factor: str) -> None:
        """Administrative unlock (and recovery)."""
        await self.success(tenant_id, user_id, factor)
