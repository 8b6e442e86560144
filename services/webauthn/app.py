"""The webauthn service's aiohttp application factory."""

from __future__ import annotations

from aiohttp import web

from services.webauthn import config as webauthn_config
from services.webauthn.config import WebAuthnConfig
from shared.clock import Clock
from shared.http.web import service_app
from shared.settings import Settings
from shared.stores.bundle import Stores

CONFIG = web.AppKey("webauthn_config", WebAuthnConfig)

AUTH = "/resources/auth/v1/user/mfa/webauthn"
USERS = "/resources/users/v1/mfa/webauthn"
DEMO = "/mfa-demo/webauthn"
PASSKEY_AUTH = "/resources/auth/v1/webauthn"
PASSKEYS = "/resources/users/webauthn/v1/devices"


def setup_routes(app: web.Application) -> None:
    """The webauthn routes (Frontegg's paths, docs/frontegg-contract.md sections 4.4 and 5.3)."""
    from services.webauthn import handlers  # lazily: handlers read this module's AppKeys

    r = app.router
    r.add_post(f"{AUTH}/enroll", handlers.login_pre_enroll)
    r.add_post(f"{AUTH}/enroll/verify", handlers.login_enroll)
    r.add_post(f"{AUTH}/{{deviceId}}", handlers.login_pre_verify)
    r.add_post(f"{AUTH}/{{deviceId}}/verify", handlers.login_verify)
    r.add_post(f"{USERS}/enroll", handlers.user_pre_enroll)
    r.add_post(f"{USERS}/enroll/verify", handlers.user_enroll)
    r.add_post(f"{USERS}/{{deviceId}}/disable", handlers.user_pre_disable)
    r.add_post(f"{USERS}/{{deviceId}}/disable/verify", handlers.user_disable)
    r.add_post(f"{PASSKEY_AUTH}/prelogin", handlers.passkey_prelogin)
    r.add_post(f"{PASSKEY_AUTH}/postlogin", handlers.passkey_postlogin)
    r.add_get(PASSKEYS, handlers.passkey_list)
    r.add_post(PASSKEYS, handlers.passkey_begin_registration)
    r.add_post(f"{PASSKEYS}/verify", handlers.passkey_finish_registration)
    r.add_delete(f"{PASSKEYS}/{{deviceId}}", handlers.passkey_delete)
    r.add_get(DEMO, handlers.demo_page)
    r.add_get(f"{DEMO}/demo.js", handlers.demo_script)


def create_app(settings: Settings, *, stores: Stores | None = None,
               clock: Clock | None = None) -> web.Application:
    """Build the webauthn service (stores given: embedded; else opened from settings)."""
    config = webauthn_config.load(settings)

    def routes(app: web.Application) -> None:
        app[CONFIG] = config
        setup_routes(app)

    return service_app("webauthn", settings, routes, stores=stores, clock=clock)
