"""The email service's aiohttp application factory."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from email.headerregistry import Address

from aiohttp import web

from services.email import config
from services.email.login import EmailFactor
from services.email.message import Templates
from services.email.notices import NoticeTemplates, Notifier
from services.email.providers import EmailSender
from services.email.providers.console import ConsoleSender
from services.email.providers.smtp import SmtpSender
from shared.clock import Clock
from shared.http.web import STORES, service_app
from shared.settings import Settings
from shared.stores.bundle import Stores

EMAIL = web.AppKey("email", EmailFactor)

log = logging.getLogger("mfa.email")

# Used only by the development console sender, which delivers nothing.
_DEV_FROM = Address(display_name="MFA (development)", addr_spec="no-reply@localhost")


def setup_routes(app: web.Application) -> None:
    """The email service's routes (Frontegg's paths, docs/frontegg-contract.md section 4.3)."""
    from services.email import handlers  # lazily: handlers read this module's AppKeys

    r = app.router
    r.add_post("/resources/auth/v1/user/mfa/emailcode", handlers.send_code)
    r.add_post("/resources/auth/v1/user/mfa/emailcode/verify", handlers.verify_code)


def _sender(cfg: config.EmailConfig, *, embedded: bool) -> tuple[EmailSender | None, Address]:
    """SMTP when MFA_SMTP_HOST is set; the console only in embedded mode; else nothing."""
    if cfg.smtp is not None:
        return SmtpSender(cfg.smtp), config.sender_address(cfg.smtp)
    if embedded:
        log.warning("DEVELOPMENT ONLY: MFA_SMTP_HOST is not set, email codes are written to "
                    "the log instead of being sent")
        return ConsoleSender(), _DEV_FROM
    log.error("MFA_SMTP_HOST is not set: email codes cannot be sent (answering 503)")
    return None, _DEV_FROM


def create_app(settings: Settings, *, stores: Stores | None = None,
               clock: Clock | None = None) -> web.Application:
    """Build the email service (stores given: embedded; else opened from settings)."""
    cfg = config.load(settings)
    sender, from_addr = _sender(cfg, embedded=stores is not None)
    app = service_app("email", settings, setup_routes, stores=stores, clock=clock)
    app[EMAIL] = EmailFactor(cfg=cfg, templates=Templates(), sender=sender,
                                      from_addr=from_addr, issuer=settings.issuer_name)
    if settings.notifications and isinstance(sender, SmtpSender):
        app.cleanup_ctx.append(_notifier_ctx)
    return app


async def _notifier_ctx(app: web.Application) -> AsyncIterator[None]:
    """User notifications as a background task (MFA_NOTIFICATIONS, with SMTP only: the
    development console would log addresses), stopped before the stores close."""
    ef = app[EMAIL]
    assert ef.sender is not None
    notifier = Notifier(app[STORES], ef.sender, ef.from_addr, NoticeTemplates(), ef.issuer)
    task = asyncio.create_task(notifier.run())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
