"""The SMS service's aiohttp application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from services.sms import config as sms_config
from services.sms.config import SmsConfig
from services.sms.delivery import Sender
from services.sms.providers import build_provider
from shared.clock import Clock
from shared.http.metrics import SMS_BUDGET
from shared.http.web import CLOCK, service_app
from shared.settings import Settings
from shared.stores.bundle import Stores

SENDER = web.AppKey("sms_sender", Sender)

CONFIG = web.AppKey("sms_config", SmsConfig)
AUTH = "/resources/auth/v1/user/mfa/sms"
USERS = "/resources/users/v1/mfa/sms"


def setup_routes(app: web.Application) -> None:
    """The SMS routes (Frontegg's paths, docs/frontegg-contract.md sections 4.2, 5.2); the fixed
    `enroll` paths are added before the `{deviceId}` ones they would otherwise match."""
    from services.sms import handlers  # lazily: handlers read this module's AppKeys

    r = app.router
    r.add_post(f"{AUTH}/enroll", handlers.login_enroll)
    r.add_post(f"{AUTH}/enroll/verify", handlers.login_enroll_verify)
    r.add_post(AUTH + "/{deviceId}", handlers.login_send)
    r.add_post(AUTH + "/{deviceId}/verify", handlers.login_verify)
    r.add_post(f"{USERS}/enroll", handlers.enroll)
    r.add_post(f"{USERS}/enroll/verify", handlers.enroll_verify)
    r.add_post(USERS + "/{deviceId}/disable", handlers.disable)
    r.add_post(USERS + "/{deviceId}/disable/verify", handlers.disable_verify)


async def _sender_ctx(app: web.Application) -> AsyncIterator[None]:
    """One client session for every provider call, closed with the app."""
    connector = aiohttp.TCPConnector(limit=100, keepalive_timeout=30)
    async with aiohttp.ClientSession(connector=connector,
                                     headers={"User-Agent": "mfa-service-sms"}) as http:
        app[SENDER] = Sender(app[CONFIG], build_provider(app[CONFIG], http, app[CLOCK]))
        yield


def create_app(settings: Settings, *, stores: Stores | None = None,
               clock: Clock | None = None) -> web.Application:
    """Build the SMS service (stores given: embedded; else opened from settings)."""
    config = sms_config.load(settings, embedded=stores is not None)
    app = service_app("sms", settings, setup_routes, stores=stores, clock=clock)
    app[CONFIG] = config
    SMS_BUDGET.labels("tenant", "").set(config.tenant_hourly)
    for country, sends in config.country_budgets:
        SMS_BUDGET.labels("country", country).set(sends)
    app.cleanup_ctx.append(_sender_ctx)
    return app
