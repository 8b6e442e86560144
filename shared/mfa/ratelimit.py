"""Send limits: a cooldown per device and fixed-window caps per user, phone, IP and tenant."""

from __future__ import annotations

from dataclasses import dataclass

from shared.http.errors import TooManyRequests
from shared.stores.ephemeral import Ephemeral


@dataclass(frozen=True)
class Cap:
    """At most `limit` events per `window` seconds for `key`."""

    key: str
    limit: int
    window: int


class SendLimiter:
    """Refuses a send (429 with a retry hint) before anything is sent."""

    def __init__(self, eph: Ephemeral) -> None:
        self._eph = eph

    async def cooldown(self, key: str, seconds: int) -> None:
        """Allow one send per `seconds` for `key`."""
        if seconds > 0 and not await self._eph.put_new(f"cool:{key}", {}, seconds):
            raise TooManyRequests("Please wait before asking for another code",
                                  retry_after=int(await self._eph.ttl(f"cool:{key}")) + 1,
                                  code="ER-MFA-RESEND-COOLDOWN")

    async def caps(self, caps: list[Cap]) -> None:
        """Count one event against every cap; refuse when any is exceeded."""
        for cap in caps:
            if cap.limit <= 0:
                continue
            n = await self._eph.incr(f"cap:{cap.key}", cap.window)
            if n > cap.limit:
                raise TooManyRequests("Too many codes requested, try again later",
                                      retry_after=int(await self._eph.ttl(f"cap:{cap.key}")) + 1,
                                      code="ER-MFA-SEND-LIMIT")

    async def release(self, key: str) -> None:
        """Lift a cooldown whose send did not happen (a failed send should not punish)."""
        await self._eph.delete(f"cool:{key}")
