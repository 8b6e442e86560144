"""The demo page (MFA_WEBAUTHN_DEMO): Frontegg's login-box ceremonies in a plain page.

Served at /mfa-demo/webauthn, off by default. It lets a person try a security key against a
running stack, and it is what the headless-Chromium end-to-end test drives.
"""

from __future__ import annotations

import html
from functools import cache
from pathlib import Path

from aiohttp import web

from services.webauthn.config import WebAuthnConfig
from shared.http.errors import NotFound

_TEMPLATES = Path(__file__).resolve().parent / "templates"
# The script is a file of its own so that no inline script needs allowing.
_CSP = ("default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; "
        "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
_HEADERS = {"Content-Security-Policy": _CSP, "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


@cache
def _template(name: str) -> str:
    return (_TEMPLATES / name).read_text(encoding="utf-8")


def _enabled(cfg: WebAuthnConfig) -> None:
    if not cfg.demo:
        raise NotFound("Unknown route", code="ER-MFA-ROUTE")


def page(cfg: WebAuthnConfig, mount_prefix: str) -> web.Response:
    """The HTML page; the API prefix rides in a data attribute."""
    _enabled(cfg)
    text = _template("demo.html").replace("{{api}}", html.escape(mount_prefix, quote=True))
    return web.Response(text=text, content_type="text/html", headers=_HEADERS)


def script(cfg: WebAuthnConfig) -> web.Response:
    """The page's script."""
    _enabled(cfg)
    return web.Response(text=_template("demo.js"), content_type="text/javascript",
                        headers=_HEADERS)
