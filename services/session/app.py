"""The session service's aiohttp application factory."""

from __future__ import annotations

from aiohttp import web

from shared.clock import Clock
from shared.http.web import service_app
from shared.settings import Settings
from shared.stores.bundle import Stores


def setup_routes(app: web.Application) -> None:
    """The session service's routes (Frontegg's paths, docs/frontegg-contract.md 5.4 and 6):
    the host's session start, recovery, step-up, the user's devices, trusted devices and
    recovery-code set, and the JWKS."""
    from services.session import handlers  # lazily, like every service

    r = app.router
    r.add_post("/internal/v1/mfa/sessions", handlers.start_session)
    r.add_get("/resources/configurations/v1/mfa-policy/allow-remember-device",
              handlers.allow_remember_device)
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


def create_app(settings: Settings, *, stores: Stores | None = None,
               clock: Clock | None = None) -> web.Application:
    """Build the session service (stores given: embedded; else opened from settings)."""
    return service_app("session", settings, setup_routes, stores=stores, clock=clock)
