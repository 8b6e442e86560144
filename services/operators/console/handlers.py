"""The support console's pages (server-rendered, no script): sign-in, find a user, the user's
page, confirm and act, a tenant's policies. Thin: check the session, role and CSRF token
(`page`), parse the form, call views / actions / the configuration core, render. Every answer
carries the console's security headers; errors are pages, not JSON envelopes."""

from __future__ import annotations

import functools
import hmac
import json
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from marshmallow import ValidationError

from services.operators import configuration, schemas
from services.operators.console import actions, views
from services.operators.console.config import PREFIX, ConsoleConfig
from services.operators.console.oidc import OidcClient, SignInFailed
from services.operators.console.sessions import (
    COOKIE,
    PENDING_COOKIE,
    PENDING_TTL,
    ConsoleSession,
    ConsoleSessions,
)
from shared.http.access import TenantCaller
from shared.http.errors import (
    STORE_FAULTS,
    BadGateway,
    BadRequest,
    Forbidden,
    MfaError,
    TooManyRequests,
)
from shared.http.web import client_ip, stores_of
from shared.mfa import registry
from shared.mfa.resets import Actor
from shared.settings import ENFORCE_TYPES

HERE = Path(__file__).parent
CONFIG = web.AppKey("console_config", ConsoleConfig)
OIDC = web.AppKey("console_oidc", OidcClient)
SESSION = web.RequestKey("console_session", ConsoleSession)
PRE_COOKIE = "mfa_console_form"  # the sign-in form's CSRF token, before any session
SIGNIN_TRIES = 10  # key sign-ins per client address per quarter hour
CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
           "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
           "Cache-Control": "no-store", "Cross-Origin-Opener-Policy": "same-origin"}
NOTICES = {"signed-out": "You are signed out.",
           "expired": "Your session has ended. Sign in again.",
           "no-user": "No user of this tenant was last seen with this email.",
           "saved": "Saved.", **actions.DONE}


def _when(value: Any) -> str:
    """Unix seconds or ISO 8601 as `2026-12-07 10:15:03 UTC`."""
    if value is None or value == "":
        return "–"
    if isinstance(value, str):
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    else:
        t = datetime.fromtimestamp(float(value), UTC)
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _plain(value: Any) -> str:
    """An audit detail's value as text: strings as they are, the rest as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


TEMPLATES = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True,
                        undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
TEMPLATES.filters["when"] = _when
TEMPLATES.filters["plain"] = _plain


def render(request: web.Request, template: str, status: int = 200, notice: str = "",
           **context: Any) -> web.Response:
    """A page; every value is escaped by the template engine. The notice: given, or one of
    NOTICES named by the query (never text from the query itself)."""
    notice = notice or NOTICES.get(request.query.get("done") or request.query.get("notice")
                                   or "", "")
    html = TEMPLATES.get_template(template).render(
        prefix=PREFIX, session=request.get(SESSION), notice=notice, **context)
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


def _sessions(request: web.Request) -> ConsoleSessions:
    stores = stores_of(request)
    return ConsoleSessions(stores.eph, stores.clock, request.app[CONFIG])


def _see_other(path: str, **query: str) -> web.Response:
    return web.Response(status=303, headers={
        "Location": PREFIX + path + (f"?{urlencode(query)}" if query else "")})


def _set_cookie(resp: web.StreamResponse, name: str, value: str, *, samesite: str = "Strict",
                max_age: int | None = None) -> None:
    resp.set_cookie(name, value, httponly=True, secure=True, samesite=samesite, path="/",
                    max_age=max_age)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def page(*, role: str | None = "support") -> Callable[[Handler], Handler]:
    """A console page: `role` None is open (sign-in); else a live session is needed, and
    `admin` is refused to the read-only role. A POST must carry the session's CSRF token."""

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def run(request: web.Request) -> web.StreamResponse:
            try:
                resp = await _checked(request, handler, role)
            except MfaError as e:
                resp = render(request, "error.html", status=e.status,
                              title=_TITLES.get(e.status, "Error"), message=e.message)
            except STORE_FAULTS:
                resp = render(request, "error.html", status=503, title="Unavailable",
                              message="A store does not answer; try again shortly.")
            resp.headers.update(HEADERS)
            return resp

        return run

    return wrap


_TITLES = {400: "Not valid", 401: "Not signed in", 403: "Not allowed", 404: "Not found",
           409: "Conflict", 429: "Too many tries", 502: "Identity provider unavailable"}


async def _checked(request: web.Request, handler: Handler, role: str | None
                   ) -> web.StreamResponse:
    if role is None:
        return await handler(request)
    s = await _sessions(request).load(request.cookies.get(COOKIE))
    if s is None:
        if request.method == "GET":
            return _see_other("/signin", **({"notice": "expired"}
                                            if request.cookies.get(COOKIE) else {}))
        raise Forbidden("You are not signed in (or your session has ended).")
    request[SESSION] = s
    if role == "admin" and not s.admin:
        raise Forbidden("This needs the console's admin role; yours is read only.")
    if request.method == "POST":
        form = await request.post()
        if not s.csrf_ok(_field(form, "csrf", required=False)):
            raise Forbidden("The form's CSRF token is missing or wrong: reload the page.")
    return await handler(request)


def _field(form: Any, name: str, *, required: bool = True, limit: int = 200) -> str:
    value = form.get(name, "")
    value = value.strip() if isinstance(value, str) else ""
    if required and not value:
        raise BadRequest(f"{name} is required")
    if len(value) > limit:
        raise BadRequest(f"{name}: at most {limit} characters")
    return value


# --- sign-in -----------------------------------------------------------------------------

@page(role=None)
async def signin_page(request: web.Request) -> web.StreamResponse:
    """GET /signin: the identity provider's button, and the key form where it is on."""
    config = request.app[CONFIG]
    pre = secrets.token_urlsafe(32)
    resp = render(request, "signin.html", oidc=_provider_name(config),
                  key_signin=config.key_signin, pre_csrf=pre)
    _set_cookie(resp, PRE_COOKIE, pre, max_age=PENDING_TTL)
    return resp


def _provider_name(config: ConsoleConfig) -> str:
    if not config.oidc:
        return ""
    return config.oidc_issuer.split("://", 1)[-1].split("/", 1)[0]


@page(role=None)
async def signin_key(request: web.Request) -> web.StreamResponse:
    """POST /signin {key}: the internal API key signs in as an admin (embedded mode)."""
    config, stores = request.app[CONFIG], stores_of(request)
    if not config.key_signin:
        raise Forbidden("Signing in with the internal API key is off here.")
    form = await request.post()
    pre = request.cookies.get(PRE_COOKIE, "")
    sent = _field(form, "csrf", required=False)
    if not pre or not hmac.compare_digest(pre.encode(), sent.encode()):
        raise Forbidden("The form's CSRF token is missing or wrong: reload the page.")
    # Counted before the comparison (parallel guesses get no more tries than serial ones).
    if await stores.eph.incr(f"console:signin:{client_ip(request)}", 900) > SIGNIN_TRIES:
        raise TooManyRequests("Too many sign-ins from this address; wait a quarter of an hour.")
    key = stores.settings.internal_api_key
    given = _field(form, "key", limit=500)
    if not key or not hmac.compare_digest(given.encode(), key.encode()):
        raise Forbidden("That is not the internal API key.")
    return await _signed_in(request, "console:internal-key", "internal API key", "admin",
                            continue_page=False)


@page(role=None)
async def oidc_start(request: web.Request) -> web.StreamResponse:
    """GET /oidc/start: to the identity provider, with PKCE; the state bound to this browser."""
    if not request.app[CONFIG].oidc:
        raise Forbidden("No identity provider is configured.")
    try:
        start = await request.app[OIDC].start()
    except SignInFailed as e:
        raise BadGateway(str(e), code="ER-MFA-CONSOLE-IDP") from None
    await _sessions(request).pend(start.state, {"verifier": start.verifier,
                                                "nonce": start.nonce})
    resp = web.Response(status=303, headers={"Location": start.url})
    # Lax: the identity provider's redirect back is a cross-site top-level navigation.
    _set_cookie(resp, PENDING_COOKIE, start.state, samesite="Lax", max_age=PENDING_TTL)
    return resp


@page(role=None)
async def oidc_callback(request: web.Request) -> web.StreamResponse:
    """GET /oidc/callback?code&state: the code exchanged (with the verifier), the ID token
    checked, the role read from its claims."""
    q = request.query
    if q.get("error"):
        raise Forbidden(f"The identity provider did not sign you in ({q['error'][:100]}).")
    state, code = q.get("state", ""), q.get("code", "")
    bound = request.cookies.get(PENDING_COOKIE, "")
    if not (state and code and bound and hmac.compare_digest(state.encode(), bound.encode())):
        raise BadRequest("This sign-in was not started in this browser; start again.")
    pending = await _sessions(request).take_pending(state)
    if pending is None:
        raise BadRequest("This sign-in has expired or was used already; start again.")
    try:
        who = await request.app[OIDC].finish(code, pending["verifier"], pending["nonce"])
    except SignInFailed as e:
        raise Forbidden(str(e)) from None
    if who.role is None:
        raise Forbidden("Your account has no console role (ask for the support or admin "
                        "role at your identity provider).")
    return await _signed_in(request, f"console:{who.subject}", who.name, who.role,
                            continue_page=True)


async def _signed_in(request: web.Request, actor: str, name: str, role: str, *,
                     continue_page: bool) -> web.StreamResponse:
    sessions = _sessions(request)
    await sessions.end(request.cookies.get(COOKIE))  # a sign-in never keeps an older session
    token = await sessions.start(actor[:150], name, role)
    # After the identity provider, a same-site page goes on: a SameSite=Strict cookie set in
    # a redirect chain that began cross-site is not sent along that chain.
    resp = render(request, "continue.html") if continue_page else _see_other("/")
    _set_cookie(resp, COOKIE, token)
    resp.del_cookie(PENDING_COOKIE, path="/")
    resp.del_cookie(PRE_COOKIE, path="/")
    return resp


@page()
async def signout(request: web.Request) -> web.StreamResponse:
    """POST /signout."""
    await _sessions(request).end(request.cookies.get(COOKIE))
    resp = _see_other("/signin", notice="signed-out")
    resp.del_cookie(COOKIE, path="/")
    return resp


# --- users ---------------------------------------------------------------------------------

@page()
async def home(request: web.Request) -> web.StreamResponse:
    """GET /: find a user."""
    q = request.query
    return render(request, "home.html", tenant=q.get("tenant", "")[:200], by="user", q="",
                  matches=[])


@page()
async def find(request: web.Request) -> web.StreamResponse:
    """GET /users?tenant&by&q: straight to the user's page, or the list of matches."""
    tenant, q = _field(request.query, "tenant"), _field(request.query, "q")
    by = "email" if request.query.get("by") == "email" else "user"
    found = await views.find_users(stores_of(request), tenant, by, q)
    if len(found) == 1:
        return _see_other("/user", tenant=tenant, user=found[0])
    return render(request, "home.html", tenant=tenant, by=by, q=q, matches=found,
                  notice="" if found else NOTICES["no-user"])


@page()
async def user_page(request: web.Request) -> web.StreamResponse:
    """GET /user?tenant&user: credentials, lockouts, trusted devices, recovery, events."""
    tenant, user = _field(request.query, "tenant"), _field(request.query, "user")
    v = await views.user_view(stores_of(request), tenant, user)
    return render(request, "user.html", v=v, storage=registry,
                  reset_effect=actions.ACTS["reset"].effect)


@page(role="admin")
async def confirm(request: web.Request) -> web.StreamResponse:
    """GET /confirm?tenant&user&action&target: the reason and the confirmation."""
    q = request.query
    tenant, user = _field(q, "tenant"), _field(q, "user")
    action, target = _field(q, "action"), _field(q, "target", required=False)
    what, effect = await actions.describe(stores_of(request), action, tenant, user, target)
    return render(request, "confirm.html", what=what, effect=effect, tenant=tenant, user=user,
                  action=action, target=target)


@page(role="admin")
async def act(request: web.Request) -> web.StreamResponse:
    """POST /act {tenant, user, action, target, reason, confirm}: done, audited with the
    operator and the reason."""
    form = await request.post()
    tenant, user = _field(form, "tenant"), _field(form, "user")
    action, target = _field(form, "action"), _field(form, "target", required=False)
    reason = _field(form, "reason", limit=500)
    if form.get("confirm") != "yes":
        raise BadRequest("Tick the confirmation to go on.")
    session = request[SESSION]
    await actions.perform(stores_of(request), Actor(session.actor, reason), action, tenant,
                          user, target)
    return _see_other("/user", tenant=tenant, user=user, done=action)


# --- tenant settings -------------------------------------------------------------------------

def _caller(request: web.Request, tenant: str) -> TenantCaller:
    s = request[SESSION]
    return TenantCaller(tenant, admin=s.admin, actor=s.actor)


@page()
async def policy_page(request: web.Request) -> web.StreamResponse:
    """GET /policy?tenant: the MFA policy, strategies and lockout policy."""
    tenant = _field(request.query, "tenant")
    t = await views.tenant_view(stores_of(request), _caller(request, tenant))
    return render(request, "policy.html", t=t, enforce_types=ENFORCE_TYPES)


def _number(form: Any, name: str) -> int:
    try:
        return int(_field(form, name, limit=12))
    except ValueError:
        raise BadRequest(f"{name}: a whole number") from None


def _load(schema: Any, data: dict[str, Any]) -> dict[str, Any]:
    try:
        return schema().load(data)  # type: ignore[no-any-return]
    except ValidationError as e:
        field, errors = next(iter(e.normalized_messages().items()))
        raise BadRequest(f"{field}: {errors[0] if isinstance(errors, list) else errors}"
                         ) from None


@page(role="admin")
async def policy_save(request: web.Request) -> web.StreamResponse:
    """POST /policy {section, ...}: through the configuration core (audited with the
    operator), after the configuration routes' own schemas."""
    form = await request.post()
    tenant, section = _field(form, "tenant"), _field(form, "section")
    stores, caller = stores_of(request), _caller(request, tenant)
    if section == "mfa-policy":
        body = _load(schemas.PolicyBody, {
            "enforceMFAType": _field(form, "enforceMFAType"),
            "allowRememberMyDevice": form.get("allowRememberMyDevice") == "yes",
            "mfaDeviceExpiration": _number(form, "mfaDeviceExpiration"),
            "userVerification": _field(form, "userVerification"),
            "notifyUsers": form.get("notifyUsers") == "yes"})
        await configuration.save_policy(stores, caller, body, replace_all=False)
    elif section == "strategies":
        body = _load(schemas.PolicyBody, {"strategies": form.getall("strategy", [])})
        await configuration.save_policy(stores, caller, body, replace_all=False)
    elif section == "lockout":
        body = _load(schemas.LockoutBody, {"enabled": form.get("enabled") == "yes",
                                           "maxAttempts": _number(form, "maxAttempts")})
        own = await stores.configs.get(configuration.LOCKOUT, tenant)
        await configuration.save_lockout(stores, caller, body, create=own is None)
    else:
        raise BadRequest("Unknown section")
    return _see_other("/policy", tenant=tenant, done="saved")


async def to_home(request: web.Request) -> web.StreamResponse:
    """GET /internal/console: to the home page (its links are relative to the prefix)."""
    return _see_other("/")


async def stylesheet(request: web.Request) -> web.StreamResponse:
    """GET /static/console.css."""
    return web.Response(body=(HERE / "static" / "console.css").read_bytes(),
                        content_type="text/css", charset="utf-8",
                        headers={**HEADERS, "Cache-Control": "max-age=3600"})


def setup(app: web.Application, config: ConsoleConfig, clock: Any) -> None:
    """The console's routes on the operators app (served only when enabled)."""
    if not config.enabled:
        return
    app[CONFIG] = config
    app[OIDC] = OidcClient(config, clock)
    r = app.router
    r.add_get(PREFIX, to_home)
    r.add_get(f"{PREFIX}/static/console.css", stylesheet)
    r.add_get(f"{PREFIX}/signin", signin_page)
    r.add_post(f"{PREFIX}/signin", signin_key)
    r.add_get(f"{PREFIX}/oidc/start", oidc_start)
    r.add_get(f"{PREFIX}/oidc/callback", oidc_callback)
    r.add_post(f"{PREFIX}/signout", signout)
    r.add_get(f"{PREFIX}/", home)
    r.add_get(f"{PREFIX}/users", find)
    r.add_get(f"{PREFIX}/user", user_page)
    r.add_get(f"{PREFIX}/confirm", confirm)
    r.add_post(f"{PREFIX}/act", act)
    r.add_get(f"{PREFIX}/policy", policy_page)
    r.add_post(f"{PREFIX}/policy", policy_save)
