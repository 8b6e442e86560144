"""Embedded mode: one process, every service app served in-process behind the gateway,
sharing one set of embedded stores (memory + SQLite under ./var/)."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from gateway.app import UPSTREAMS, create_app
from shared.clock import Clock, SystemClock
from shared.settings import SERVICES, Settings
from shared.stores import Stores, open_embedded_stores
from shared.web import READY_CHECKS

EMBEDDED_STORES = web.AppKey("embedded_stores", Stores)
AppFactory = Callable[..., web.Application]


def service_factories() -> dict[str, AppFactory]:
    """Each service's create_app, from the fixed list of services (no discovery)."""
    factories: dict[str, AppFactory] = {}
    for name in SERVICES:
        try:
            module = importlib.import_module(f"services.{name}.app")
        except ModuleNotFoundError as e:
            if e.name != f"services.{name}" and e.name != f"services.{name}.app":
                raise
            continue  # a factor not built yet is simply not routed
        factories[name] = module.create_app
    return factories


def create_embedded_app(settings: Settings, clock: Clock | None = None) -> web.Application:
    """The gateway with every service app started in this process on loopback ports."""
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
