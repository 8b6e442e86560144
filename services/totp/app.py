"""The totp service's aiohttp application factory."""

from __future__ import annotations

from aiohttp import web

from services.totp import config as totp_config
from services.totp.config import TotpConfig
from shared.clock import Clock
from shared.http.web import service_app
from shared.settings import Settings
from shared.stores.bundle import Stores

CONFIG = web.AppKey("totp_config", TotpConfig)

_AUTH = "/resources/auth/v1/user/mfa"
_USERS = "/resources/users/v1/mfa"


def setup_routes(app: web.Application) -> None:
    """The totp service's routes (Frontegg's paths, docs/frontegg-contract.md sections 4.1, 5.1)."""
    from services.totp import handlers  # lazily: handlers read this module's AppKeys

    r = app.router
    r.add_post(f"{_AUTH}/authenticator/enroll", handlers.auth_pre_enroll)
    r.add_post(f"{_AUTH}/authenticator/enroll/verify", handlers.auth_enroll)
    r.add_post(f"{_AUTH}/authenticator/{{deviceId}}/verify", handlers.auth_verify)
    r.add_post(f"{_AUTH}/verify", handlers.auth_verify)
    r.add_post(f"{_USERS}/authenticator/enroll", handlers.user_pre_enroll)
    r.add_post(f"{_USERS}/authenticator/enroll/verify", handlers.user_enroll)
    r.add_post(f"{_USERS}/authenticator/{{deviceId}}/disable/verify",
               handlers.user_disable_device)
    r.add_post(f"{_USERS}/enroll", handlers.user_pre_enroll)
    r.add_post(f"{_USERS}/enroll/verify", handlers.user_enroll)
    r.add_post(f"{_USERS}/disable", handlers.user_disable)


def create_app(settings: Settings, *, stores: Stores | None = None,
               clock: Clock | None = None) -> web.Application:
    """Build the totp service (stores given: embedded; else opened from settings)."""
    config = totp_config.load(settings)
    app = service_app("totp", settings, setup_routes, stores=stores, clock=clock)
    app[CONFIG] = config
    return app
