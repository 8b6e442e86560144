"""The session service's aiohttp application factory."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from shared.clock import Clock
from shared.settings import Settings
from shared.stores import Stores
from shared.web import SETTINGS, STORES, service_app
from shared.webhooks import WebhookConfig, WebhookDispatcher


def setup_routes(app: web.Application) -> None:
    """The session service's routes (Frontegg's paths, docs/frontegg-contract.md section 6)."""
    from services.session import handlers  # lazily, like every service
    from shared.admin import import_routes, vendor_routes
    from shared.admin.admin_routes import setup_admin_routes

    r = app.router
    r.add_post("/internal/v1/mfa/sessions", handlers.start_session)
    r.add_post("/resources/migrations/v1/local", import_routes.migrate_user)
    r.add_post("/resources/migrations/v1/local/bulk", import_routes.migrate_bulk)
    r.add_post("/resources/migrations/v2/local/bulk", import_routes.migrate_bulk)
    r.add_get("/resources/migrations/v1/local/bulk/status/{migrationId}",
              import_routes.migration_status)
    r.add_get("/resources/configurations/v1/mfa-policy/allow-remember-device",
              handlers.allow_remember_device)
    r.add_get("/resources/configurations/v1/mfa-policy/vendor", handlers.vendor_policy)
    r.add_get("/resources/configurations/v1/mfa-policy", handlers.get_policy)
    r.add_post("/resources/configurations/v1/mfa-policy", handlers.save_policy)
    r.add_patch("/resources/configurations/v1/mfa-policy", handlers.patch_policy)
    r.add_put("/resources/configurations/v1/mfa-policy", handlers.put_policy)
    r.add_get("/resources/configurations/v1/mfa/strategies", handlers.strategies)
    r.add_post("/resources/configurations/v1/mfa/strategies", handlers.set_strategy)
    r.add_get("/resources/configurations/v1/mfa", handlers.get_mfa_config)
    r.add_post("/resources/configurations/v1/mfa", handlers.save_mfa_config)
    r.add_get("/resources/configurations/v1/lockout-policy/vendor", handlers.vendor_lockout)
    r.add_get("/resources/configurations/v1/lockout-policy", handlers.get_lockout)
    r.add_post("/resources/configurations/v1/lockout-policy", handlers.create_lockout)
    r.add_patch("/resources/configurations/v1/lockout-policy", handlers.update_lockout)
    r.add_get("/resources/users/v1/mfa/devices", handlers.devices)
    r.add_patch("/resources/users/v1/mfa/devices/{deviceId}", handlers.rename_device)
    r.add_post("/resources/auth/v1/user/step-up/generate", handlers.step_up)
    r.add_post("/resources/auth/v1/user/mfa/recover", handlers.recover)
    r.add_get("/resources/users/v1/mfa/trusted-devices", handlers.trusted_devices)
    r.add_delete("/resources/users/v1/mfa/trusted-devices", handlers.revoke_trusted_device)
    r.add_delete("/resources/users/v1/mfa/trusted-devices/{deviceId}",
                 handlers.revoke_trusted_device)
    r.add_get("/resources/users/v1/mfa/recovery-codes", handlers.recovery_codes_left)
    r.add_post("/resources/users/v1/mfa/recovery-codes", handlers.regenerate_recovery_codes)
    r.add_post("/resources/auth/v1/user/mfa/recovery-codes/verify",
               handlers.recovery_code_login)
    r.add_get("/.well-known/jwks.json", handlers.jwks)
    r.add_post("/resources/vendor-only/users/v1/{userId}/mfa/unenroll", vendor_routes.unenroll)
    r.add_post("/resources/users/v1/{userId}/unlock", vendor_routes.unlock)
    setup_admin_routes(app)


def create_app(settings: Settings, *, stores: Stores | None = None,
               clock: Clock | None = None) -> web.Application:
    """Build the session service (stores given: embedded; else opened from settings); it
    also runs the security-event webhook dispatcher when MFA_WEBHOOK_URLS is set."""
    app = service_app("session", settings, setup_routes, stores=stores, clock=clock)
    if settings.webhook_urls:
        app.cleanup_ctx.append(_webhooks_ctx)
    return app


async def _webhooks_ctx(app: web.Application) -> AsyncIterator[None]:
    """The dispatcher as a background task, stopped before the stores close."""
    s = app[SETTINGS]
    cfg = WebhookConfig(urls=s.webhook_urls, secret=s.webhook_secret, timeout=s.webhook_timeout,
                        backoff_cap=s.webhook_max_backoff)
    async with aiohttp.ClientSession() as http:
        stores = app[STORES]
        task = asyncio.create_task(WebhookDispatcher(stores.db, stores.clock, http, cfg).run())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
