"""Embedded mode: one process, every service app served in-process behind the gateway,
sharing one set of embedded stores (memory + SQLite under ./var/)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from gateway.app import UPSTREAMS, create_app
from gateway.routes import service_factories
from shared.clock import Clock, SystemClock
from shared.http import tracing
from shared.http.web import READY_CHECKS
from shared.settings import Settings
from shared.stores.bundle import Stores, open_embedded_stores

EMBEDDED_STORES = web.AppKey("embedded_stores", Stores)


def create_embedded_app(settings: Settings, clock: Clock | None = None) -> web.Application:
    """The gateway with every service app started in this process on loopback ports."""
    tracing.configure("embedded")  # one process: one service name (OTEL_* permitting)
    gateway = create_app(settings, upstreams={})
    clock = clock or SystemClock()

    async def services_ctx(app: web.Application) -> AsyncIterator[None]:
        stores = await open_embedded_stores(settings, clock)
        app[EMBEDDED_STORES] = stores
        runners = []
        for name, factory in service_factories().items():
            runner = web.AppRunner(factory(settings, stores=stores, clock=clock),
                                   access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = runner.addresses[0][1]
            app[UPSTREAMS][name] = f"http://127.0.0.1:{port}"
            runners.append(runner)
        yield
        for runner in reversed(runners):
            await runner.cleanup()
        await stores.close()

    async def stores_ready(app: web.Application) -> None:
        await app[EMBEDDED_STORES].ping()

    gateway.cleanup_ctx.insert(0, services_ctx)
    gateway[READY_CHECKS].append(stores_ready)
    return gateway
