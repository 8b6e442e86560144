"""The code email: templates per locale (services/email/templates/), language negotiation from
Accept-Language, and the multipart/alternative message (plain text + HTML)."""

from __future__ import annotations

import html
import re
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from string import Template

from shared.clock import Clock

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
DEFAULT_LOCALE = "en"
_MAX_HEADER = 1000
_MAX_RANGES = 30
_QVALUE = re.compile(r"^(?:0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)$")


@dataclass(frozen=True)
class Rendered:
    """One message's subject, plain-text and HTML bodies in one language."""

    locale: str
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class _Locale:
    subject: Template
    text: Template
    html: Template


def _weight(params: list[str]) -> float:
    """The q value of a language range (RFC 9110 12.4.2); malformed counts as 0."""
    for p in params:
        name, _, value = p.partition("=")
        if name.strip().lower() == "q":
            m = _QVALUE.match(value.strip())
            return float(m.group(0)) if m else 0.0
    return 1.0


def negotiate(accept_language: str | None, locales: Collection[str]) -> str:
    """The best of `locales` for an Accept-Language header (RFC 9110 12.5.4, RFC 4647 3.4
    lookup: drop subtags from the end until one matches); English otherwise."""
    ranked: list[tuple[float, int, str]] = []
    items = (accept_language or "")[:_MAX_HEADER].split(",")[:_MAX_RANGES]
    for i, item in enumerate(items):
        tag, *params = item.split(";")
        q = _weight(params)
        if q > 0 and tag.strip() and tag.strip() != "*":
            ranked.append((-q, i, tag.strip().lower()))
    for _, _, tag in sorted(ranked):
        parts = tag.split("-")
        while parts:
            if "-".join(parts) in locales:
                return "-".join(parts)
            parts.pop()
    return DEFAULT_LOCALE


def _read(folder: Path, name: str) -> Template:
    return Template((folder / name).read_text(encoding="utf-8"))


class Templates:
    """Every locale that has subject.<l>.txt, code.<l>.txt and code.<l>.html."""

    def __init__(self, folder: Path = TEMPLATE_DIR) -> None:
        self._by_locale: dict[str, _Locale] = {}
        for subject in sorted(folder.glob("subject.*.txt")):
            loc = subject.name.split(".")[1].lower()
            self._by_locale[loc] = _Locale(_read(folder, subject.name),
                                           _read(folder, f"code.{loc}.txt"),
                                           _read(folder, f"code.{loc}.html"))
        if DEFAULT_LOCALE not in self._by_locale:
            raise ValueError(f"email templates for '{DEFAULT_LOCALE}' are missing in {folder}")
        for loc in self._by_locale:  # a typo in a placeholder fails at startup, not per send
            self.render(loc, code="0", minutes=1, issuer="x")

    @property
    def locales(self) -> tuple[str, ...]:
        """The languages there are templates for."""
        return tuple(self._by_locale)

    def negotiate(self, accept_language: str | None) -> str:
        """The best locale for an Accept-Language header (see negotiate)."""
        return negotiate(accept_language, self._by_locale)

    def render(self, locale: str, *, code: str, minutes: int, issuer: str) -> Rendered:
        """The subject and both bodies; values are HTML-escaped in the HTML part."""
        t = self._by_locale.get(locale) or self._by_locale[DEFAULT_LOCALE]
        plain = {"code": code, "minutes": str(minutes), "issuer": issuer}
        escaped = {k: html.escape(v) for k, v in plain.items()}
        subject = " ".join(t.subject.substitute(plain).split())  # one line, no CR/LF
        return Rendered(locale=locale, subject=subject, text=t.text.substitute(plain),
                        html=t.html.substitute(escaped))


def build_message(r: Rendered, *, sender: Address, to: str, clock: Clock) -> EmailMessage:
    """multipart/alternative: text/plain first, text/html preferred (RFC 2046 5.1.4)."""
    msg = EmailMessage()
    msg["Subject"] = r.subject
    msg["From"] = sender
    msg["To"] = to
    msg["Date"] = format_datetime(clock.now())
    # Random only: make_msgid would put the time and the process id in it.
    msg["Message-ID"] = f"<{secrets.token_hex(16)}@{sender.domain or 'localhost'}>"
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to this
    msg.set_content(r.text)
    msg.add_alternative(r.html, subtype="html")
    msg["Content-Language"] = r.locale  # RFC 3282; after the bodies, which reset Content-*
    return msg
