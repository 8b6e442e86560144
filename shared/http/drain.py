"""Every process's runner (the gateway's and each service's): on SIGTERM it stops listening at
once but keeps the open (keep-alive) connections served for MFA_SHUTDOWN_GRACE, answering
every request on them with `Connection: close` so the client reconnects to another replica,
instead of dropping requests that were already on their way over an idle connection. A
service's clients are the gateways' connection pools: a pooled connection that the stopping
service closed while idle could meet a request on its way (the request lost, as neither side
may safely send it again); answered with `Connection: close` instead, each pooled connection
is used once more and closed, then the next request finds the listener gone (refused, never
sent) and the gateway sends it to another replica (gateway/upstreams.py)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable

from aiohttp import web

from shared.http.errors import Unavailable
from shared.settings import Settings

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
DRAINING = web.AppKey("draining", asyncio.Event)
_POLL_S = 0.05  # how often the drain looks whether every connection has gone
_LAST_S = 0.5  # after the grace: what a handler still running gets before it is cancelled


@web.middleware
async def close_when_draining(request: web.Request, handler: Handler) -> web.StreamResponse:
    """While draining, every answer closes its connection (`Connection: close`)."""
    resp = await handler(request)
    if request.app[DRAINING].is_set():
        resp.force_close()
    return resp


async def not_draining(app: web.Application) -> None:
    """Readiness check: a draining process is not ready (its endpoint should go)."""
    if app[DRAINING].is_set():
        raise Unavailable("Shutting down", code="ER-MFA-NOT-READY")


def install(app: web.Application) -> None:
    """Add the drain flag and its middleware to an app."""
    app[DRAINING] = asyncio.Event()
    app.middlewares.insert(0, close_when_draining)


async def drain(runner: web.AppRunner, app: web.Application, grace: float) -> None:
    """Stop listening, answer what still arrives with Connection: close, until every
    connection is gone or the grace ends."""
    app[DRAINING].set()
    for site in list(runner.sites):
        await site.stop()  # closes the listening socket only; open connections stay
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    server = runner.server
    # aiohttp has no event for "the last connection closed", so look at the count.
    while server is not None and server.connections and loop.time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(_POLL_S)


async def serve(app: web.Application, settings: Settings) -> None:
    """Listen on MFA_HOST:MFA_PORT until SIGTERM/SIGINT, then drain and clean up."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):  # before listening: a SIGTERM is never fatal
        loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=_LAST_S)
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.host, settings.port,
                          reuse_port=settings.reuse_port or None).start()
        await stop.wait()
        await drain(runner, app, settings.shutdown_grace)
    finally:
        await runner.cleanup()


def run(app: web.Application, settings: Settings) -> None:
    """Run serve() on uvloop (as every other process does)."""
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as r:
        r.run(serve(app, settings))
