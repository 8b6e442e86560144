"""Several replicas per service behind the gateway: `MFA_TOTP_URL=http://a:8081,http://b:8081`.

Requests go round-robin over a service's replicas. A request is sent to another replica only
when it cannot have reached the first: the connection could not be made (refused, no route,
a name that does not resolve, or no answer to the connect within MFA_UPSTREAM_CONNECT_TIMEOUT:
a replica behind a partition drops packets and never refuses). Anything else (a reset, a
timeout once connected, an answer) is the request's outcome, retried by nobody: a verify may
have consumed its mfaToken. Every try shares the request's one MFA_UPSTREAM_TIMEOUT. A replica
that was not reached, or did not answer in time, is tried last for `PENALTY_S`: a stopped one
costs one refused (or timed-out) connect, not one per request, and a partitioned one a 504 for
the requests already on their way to it, not for every other request after them. The order
is decided per request, so no lock is needed (one event loop)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from shared.http.errors import BadGateway, GatewayTimeout

PENALTY_S = 2.0


class NotReached(BadGateway):
    """The connection to the replica could not be made: the request never left the gateway."""

    code = "ER-MFA-UPSTREAM-DOWN"
    default_message = "Upstream service unavailable"


class Replicas:
    """One service's replica base URLs, in the order each request should try them."""

    def __init__(self, urls: list[str], *, now: Callable[[], float] = time.monotonic) -> None:
        if not urls:
            raise ValueError("a service needs at least one URL")
        self.urls = urls
        self._next = itertools.cycle(range(len(urls)))
        self._refused_until = dict.fromkeys(urls, 0.0)
        self._now = now

    @classmethod
    def parse(cls, setting: str) -> Replicas:
        """From a setting: one URL, or several separated by commas."""
        urls = [u.strip().rstrip("/") for u in setting.split(",") if u.strip()]
        for u in urls:
            if not u.startswith(("http://", "https://")):
                raise ValueError(f"upstream URL {u!r} must start with http:// or https://")
        return cls(urls)

    def order(self) -> list[str]:
        """Every replica once, starting with the next in turn; those that refused lately
        last."""
        start = next(self._next)
        turn = self.urls[start:] + self.urls[:start]
        now = self._now()
        return sorted(turn, key=lambda u: self._refused_until[u] > now)  # stable

    def refused(self, url: str) -> None:
        """The replica was not reached, or timed out: try it last for a while."""
        self._refused_until[url] = self._now() + PENALTY_S


def replicas_of(cache: dict[str, Replicas], setting: str) -> Replicas:
    """The Replicas of a setting, parsed once (the embedded gateway fills its settings in
    after start, so they are looked up per request)."""
    found = cache.get(setting)
    if found is None:
        found = cache[setting] = Replicas.parse(setting)
    return found


async def send(replicas: Replicas,
               attempt: Callable[[str], Awaitable[web.Response]]) -> web.Response:
    """`attempt(base_url)` on each replica in turn until one is reached; NotReached (502)
    when none is."""
    last: NotReached | None = None
    for url in replicas.order():
        try:
            return await attempt(url)
        except NotReached as e:
            replicas.refused(url)
            last = e
        except GatewayTimeout:
            replicas.refused(url)  # the request's outcome (not retried); others go elsewhere
            raise
    assert last is not None
    raise last
