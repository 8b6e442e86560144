"""User notifications: an email when a factor is added or removed, the MFA is reset, the
recovery code is used, or a factor locks (NIST SP 800-63B 6.1.2.1: notify the subscriber of
binding changes). A consumer of the outbox (shared.events.outbox) in the email service, through its
SMTP sender and templates, in every language it has (the language of the request that caused
the event, else English); per tenant with the policy's `notifyUsers`. No HTTP here."""

from __future__ import annotations

import html
import json
import logging
from datetime import UTC, datetime
from email.headerregistry import Address
from pathlib import Path
from string import Template
from typing import Any

from services.email.message import TEMPLATE_DIR, Rendered, build_message, negotiate
from services.email.providers import EmailSender, SendFailed
from shared.events.outbox import OutboxEvent, run_forever
from shared.http.metrics import event_handled
from shared.mfa.registry import DEVICE_KINDS, LOCKOUT_FACTORS, TOTP
from shared.stores.bundle import Stores

log = logging.getLogger("mfa.email.notices")
NOTICES = ("mfa.factor.enrolled", "mfa.factor.removed", "mfa.reset", "mfa.recovery_code.used",
           "mfa.factor.locked")
LEASE_S = 60.0


class NoticeTemplates:
    """notices.<l>.json per locale (a subject and a line per event, the factors' names,
    advice) in the language-neutral bodies notice.txt and notice.html."""

    def __init__(self, folder: Path = TEMPLATE_DIR) -> None:
        self._by_locale: dict[str, dict[str, Any]] = {
            p.name.split(".")[1]: json.loads(p.read_text(encoding="utf-8"))
            for p in sorted(folder.glob("notices.*.json"))}
        self._text = Template((folder / "notice.txt").read_text(encoding="utf-8"))
        self._html = Template((folder / "notice.html").read_text(encoding="utf-8"))
        for loc, phrases in self._by_locale.items():  # a missing phrase fails at start-up
            for kind in NOTICES:
                self.render(loc, kind, factor=TOTP.name, at=0.0, issuer="x")
            unnamed = {*DEVICE_KINDS, *LOCKOUT_FACTORS} - set(phrases["factors"])
            if unnamed:  # every kind of the registry a notice can be about has a name
                raise ValueError(f"notices.{loc}.json names no {', '.join(sorted(unnamed))}")

    @property
    def locales(self) -> tuple[str, ...]:
        """The languages there are notices in."""
        return tuple(self._by_locale)

    def render(self, locale: str, kind: str, *, factor: str, at: float,
               issuer: str) -> Rendered:
        """The notice of one event in one language; values HTML-escaped in the HTML part."""
        locale = locale if locale in self._by_locale else "en"
        phrases = self._by_locale[locale]
        subject_t, line_t = phrases[kind]
        names = phrases["factors"]
        when = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M UTC")
        values = {"issuer": issuer, "when": when, "factor": str(names.get(factor, factor))}
        subject = " ".join(Template(subject_t).substitute(values).split())
        plain = {"line": Template(line_t).substitute(values), "advice": str(phrases["advice"]),
                 "issuer": issuer, "subject": subject, "lang": locale}
        escaped = {k: html.escape(v) for k, v in plain.items()}
        return Rendered(locale=locale, subject=subject, text=self._text.substitute(plain),
                        html=self._html.substitute(escaped))


class Notifier:
    """Mails the users their events, a batch at a time."""

    def __init__(self, stores: Stores, sender: EmailSender, from_addr: Address,
                 templates: NoticeTemplates, issuer: str) -> None:
        self._stores = stores
        self._sender = sender
        self._from = from_addr
        self._templates = templates
        self._issuer = issuer

    async def _recipient(self, e: OutboxEvent) -> str | None:
        """The user's address, when the event is one to mail and the tenant wants it."""
        if e.type not in NOTICES:
            return None
        if not (await self._stores.policies.get(e.tenant_id)).notifyUsers:
            return None
        return await self._stores.users.email_of(e.tenant_id, e.user_id)

    async def notify(self, e: OutboxEvent) -> bool:
        """Mail one event to its user; False when it needs no mail. SendFailed propagates."""
        to = await self._recipient(e)
        if to is None:
            return False
        issuer = await self._stores.configs.mfa_setting(e.tenant_id, "authenticationApp",
                                                        "serviceName", self._issuer)
        locale = negotiate(str(e.payload.get("language") or ""), self._templates.locales)
        rendered = self._templates.render(locale, e.type, factor=str(e.payload["factor"]),
                                          at=e.at, issuer=issuer)
        await self._sender.send(build_message(rendered, sender=self._from, to=to,
                                              clock=self._stores.clock))
        return True

    async def run_once(self, batch: int = 50) -> int:
        """One batch, oldest first; a failed send is left for the next round. The number of
        events handled."""
        outbox, done = self._stores.outbox, 0
        for e in await outbox.unnotified(batch):
            if not await outbox.lease_notification(e.id, LEASE_S):
                continue
            try:
                sent = await self.notify(e)
            except SendFailed as err:
                await outbox.release_notification(e.id)
                event_handled("notification", "failed")
                log.warning("notification not sent", extra={"fields": {
                    "eventId": e.id, "type": e.type, "reason": err.reason}})
                return done
            await outbox.mark_notified(e.id)
            event_handled("notification", "delivered" if sent else "skipped")
            log.info("notification " + ("sent" if sent else "not needed"),
                     extra={"fields": {"eventId": e.id, "type": e.type}})
            done += 1
        return done

    async def run(self, poll: float = 2.0) -> None:
        """Forever (shared.events.outbox.run_forever)."""
        await run_forever(self.run_once, poll=poll, log=log, what="notifier")
