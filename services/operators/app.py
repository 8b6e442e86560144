"""The operators service's aiohttp application factory: what vendors, tenant administrators
and support staff call (Frontegg's vendor-only, unlock, migration and configuration routes, and
the native admin API), and the security-event webhook dispatcher."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from services.operators import config as operators_config
from services.operators.config import OperatorsConfig
from services.operators.console import config as console_config
from services.operators.console import handlers as console
from services.operators.webhooks import WebhookDispatcher
from shared.clock import Clock
from shared.events import retention
from shared.events.outbox import run_forever
from shared.http.web import CLOCK, STORES, service_app
from shared.settings import Settings
from shared.stores.bundle import Stores

CONFIG = web.AppKey("operators_config", OperatorsConfig)
log = logging.getLogger("mfa.retention")


def setup_routes(app: web.Application) -> None:
    """The operators' routes (Frontegg's paths, docs/frontegg-contract.md sections 5.6 and 6)."""
    from services.operators import admin_handlers as admin  # lazily, like every service
    from services.operators import handlers as h
    from services.operators import import_handlers as imp

    r = app.router
    r.add_post("/resources/migrations/v1/local", imp.migrate_user)
    r.add_post("/resources/migrations/v1/local/bulk", imp.migrate_bulk)
    r.add_post("/resources/migrations/v2/local/bulk", imp.migrate_bulk)
    r.add_get("/resources/migrations/v1/local/bulk/status/{migrationId}", imp.migration_status)
    r.add_get("/resources/configurations/v1/mfa-policy/vendor", h.vendor_policy)
    r.add_get("/resources/configurations/v1/mfa-policy", h.get_policy)
    r.add_post("/resources/configurations/v1/mfa-policy", h.save_policy)
    r.add_patch("/resources/configurations/v1/mfa-policy", h.patch_policy)
    r.add_put("/resources/configurations/v1/mfa-policy", h.put_policy)
    r.add_get("/resources/configurations/v1/mfa/strategies", h.strategies)
    r.add_post("/resources/configurations/v1/mfa/strategies", h.set_strategy)
    r.add_get("/resources/configurations/v1/mfa", h.get_mfa_config)
    r.add_post("/resources/configurations/v1/mfa", h.save_mfa_config)
    r.add_get("/resources/configurations/v1/lockout-policy/vendor", h.vendor_lockout)
    r.add_get("/resources/configurations/v1/lockout-policy", h.get_lockout)
    r.add_post("/resources/configurations/v1/lockout-policy", h.create_lockout)
    r.add_patch("/resources/configurations/v1/lockout-policy", h.update_lockout)
    r.add_post("/resources/vendor-only/users/v1/{userId}/mfa/unenroll", h.unenroll)
    r.add_post("/resources/users/v1/{userId}/unlock", h.unlock)
    base = "/internal/v1/admin"  # the native admin API (internal API key)
    user = f"{base}/tenants/{{tenantId}}/users/{{userId}}"
    r.add_get(f"{user}/factors", admin.list_factors)
    r.add_delete(f"{user}/factors/{{deviceId}}", admin.delete_factor)
    r.add_post(f"{user}/factors/{{deviceId}}/resync", admin.resync)
    r.add_post(f"{user}/import", admin.import_user)
    r.add_post(f"{user}/reset", admin.reset)
    r.add_post(f"{user}/unlock", admin.unlock)
    r.add_get(f"{user}/lockout", admin.explain_lockout)
    r.add_get(f"{base}/audit", admin.audit)
    r.add_get(f"{base}/audit/export", admin.export_audit)
    r.add_get(f"{base}/tenants/{{tenantId}}/adoption", admin.tenant_adoption)


def create_app(settings: Settings, *, stores: Stores | None = None,
               clock: Clock | None = None) -> web.Application:
    """Build the operators service (stores given: embedded; else opened from settings); it
    also runs the security-event webhook dispatcher when MFA_WEBHOOK_URLS is set."""
    config = operators_config.load(settings)
    app = service_app("operators", settings, setup_routes, stores=stores, clock=clock)
    app[CONFIG] = config
    console.setup(app, console_config.load(settings, embedded=stores is not None),
                  app[CLOCK])
    if config.webhooks is not None:
        app.cleanup_ctx.append(_webhooks_ctx)
    if settings.prune_interval > 0:
        app.cleanup_ctx.append(_retention_ctx)
    return app


async def _retention_ctx(app: web.Application) -> AsyncIterator[None]:
    """Retention as a background task (shared.events.retention): every MFA_PRUNE_INTERVAL
    seconds, in batches that leave logins their pace; store faults are logged and retried."""
    stores = app[STORES]
    s = stores.settings

    async def once() -> int:
        pruned = await retention.prune(
            stores.db, now=stores.clock.time(), audit_days=s.audit_retention_days,
            outbox_days=s.outbox_retention_days, webhooks=bool(s.webhook_urls),
            notifications=s.notifications)
        if pruned != retention.Pruned():
            log.info("pruned", extra={"fields": dataclasses.asdict(pruned)})
        return 0  # then wait a whole interval

    async def every_interval() -> None:  # the first run one interval after start-up
        await asyncio.sleep(s.prune_interval)
        await run_forever(once, poll=s.prune_interval, log=log, what="retention")

    task = asyncio.create_task(every_interval())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _webhooks_ctx(app: web.Application) -> AsyncIterator[None]:
    """The dispatcher as a background task, stopped before the stores close."""
    cfg = app[CONFIG].webhooks
    assert cfg is not None  # only added when the dispatcher is configured
    async with aiohttp.ClientSession() as http:
        stores = app[STORES]
        task = asyncio.create_task(WebhookDispatcher(stores.db, stores.clock, http, cfg).run())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
