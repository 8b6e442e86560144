"""The gateway's readiness (its upstreams' readiness) and its metrics, which are served on an
internal listener only (MFA_METRICS_PORT), never on the public port the Ingress routes to."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
from aiohttp import web

from shared.http.errors import NotFound, Unavailable
from shared.http.metrics import UPSTREAM_READY, metrics_handler
from shared.http.web import SETTINGS

log = logging.getLogger("mfa.gateway")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def _one_ready(client: aiohttp.ClientSession, name: str, base_url: str,
                     limit_s: float) -> str | None:
    """None when the upstream's /readyz says 200, else the upstream's name."""
    try:
        async with client.get(base_url.rstrip("/") + "/readyz",
                              timeout=aiohttp.ClientTimeout(total=limit_s)) as r:
            return None if r.status == 200 else name
    except (aiohttp.ClientError, TimeoutError, ConnectionError):
        return name


async def check_upstreams(client: aiohttp.ClientSession, upstreams: dict[str, str],
                          limit_s: float) -> None:
    """Ask every replica's /readyz at once; Unavailable (logged with the services' names)
    when a service has no ready replica (several: comma-separated, gateway/upstreams.py)."""
    asked = [(name, url.strip()) for name, setting in upstreams.items()
             for url in setting.split(",") if url.strip()]
    results = await asyncio.gather(*(_one_ready(client, name, url, limit_s)
                                     for name, url in asked))
    ready = {name for (name, _), sick in zip(asked, results, strict=True) if sick is None}
    sick = sorted(set(upstreams) - ready)
    for name in upstreams:
        UPSTREAM_READY.labels(name).set(0 if name in sick else 1)
    if sick:
        log.warning("upstreams not ready", extra={"fields": {"upstreams": sick}})
        raise Unavailable("Not ready", code="ER-MFA-NOT-READY")


@web.middleware
async def public_metrics_hidden(request: web.Request, handler: Handler) -> web.StreamResponse:
    """/metrics is a 404 on the public listener (the Ingress routes every path here)."""
    if request.path == "/metrics":
        raise NotFound("Unknown route", code="ER-MFA-ROUTE")
    return await handler(request)


async def metrics_listener(app: web.Application) -> AsyncIterator[None]:
    """Serve /metrics on MFA_HOST:MFA_METRICS_PORT while the gateway runs (0: not at all)."""
    settings = app[SETTINGS]
    if not settings.metrics_port:
        yield
        return
    internal = web.Application()
    internal.router.add_get("/metrics", metrics_handler)
    runner = web.AppRunner(internal, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, settings.host, settings.metrics_port).start()
    try:
        yield
    finally:
        await runner.cleanup()
