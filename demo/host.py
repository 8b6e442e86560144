"""The demo host: a stand-in for a team's own login, serving Frontegg's login box.

A team that uses this MFA service keeps its own identity provider: it checks the password,
starts the MFA session with this service's internal API, and answers the rest of the login
box's calls itself. This host plays that part as simply as it can, for `make demo` and for the
browser test (tests/demo/):

- the password step takes any email with the fixed demo password; the user's id is made from
  the email, in one demo tenant;
- it answers the start-up calls of Frontegg's login box (@frontegg/admin-portal 5.79.0) with
  what a tenant with email and password, no SSO, no social logins and no captcha answers;
- the box's MFA calls (verify, recover, enroll, allow-remember-device, ...) go to the MFA
  service unchanged: method, path, query, headers, body, and back status, headers (the
  remember-device cookie) and body;
- a user is signed in only once the access token the MFA service signed verifies with the
  service's JWKS (signature, issuer, expiry, its tenant, "mfa" in amr), as the README tells
  a real host to.

Nothing here reaches anything but the MFA service it is given.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import jwt
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

DEMO_PASSWORD = "mfa-demo"  # noqa: S105 - the demo's one published password, on purpose
DEMO_TENANT = "demo-tenant"
SESSION_COOKIE = "demo-session"
BOX_DIR = Path(__file__).parent / "box" / "dist"
FRONTEGG = "/frontegg"
IDENTITY = FRONTEGG + "/identity/resources"
LOGIN_PAGE = "/account/login"
# The page loads nothing from anywhere but this host (the box links a Google font: blocked).
# The box writes its styles inline; the QR and its icons are data: URLs.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")

JWKS_REFETCH_S = 10.0  # an unknown key id fetches the JWKS again, at most this often
# Hop-by-hop headers (RFC 9110 section 7.6.1) and those aiohttp sets from the body it sends.
_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
        "transfer-encoding", "upgrade", "host", "content-length", "content-encoding"}


@dataclass
class HostConfig:
    """Where the MFA service is, and what the host needs to talk to it."""

    mfa_url: str  # the gateway: the box's MFA calls and the JWKS
    session_url: str  # the internal API's session start (the gateway in embedded mode)
    internal_api_key: str
    issuer: str = "mfa-service"
    remember_cookie: str = "mfa-remember-device"
    tenant_id: str = DEMO_TENANT
    box_dir: Path = BOX_DIR


@dataclass
class HostState:
    """The host's own memory: the JWKS it fetched, when, and its signed-in sessions."""

    keys: dict[str, jwt.PyJWK] = field(default_factory=dict)
    fetched_at: float = 0.0
    sessions: dict[str, tuple[str, float]] = field(default_factory=dict)  # id -> token, exp


Handler = Callable[[web.Request], Awaitable[web.Response]]
CONFIG = web.AppKey("demo_config", HostConfig)
STATE = web.AppKey("demo_state", HostState)
HTTP = web.AppKey("demo_http", aiohttp.ClientSession)


def user_id_for(email: str) -> str:
    """The demo's users are made from their email: the same email is the same user."""
    return "demo-" + hashlib.sha256(email.strip().lower().encode()).hexdigest()[:16]


def create_host_app(config: HostConfig) -> web.Application:
    """The host's aiohttp app: the page, the box's bundle, the login half, the MFA proxy."""
    app = web.Application()
    app[CONFIG] = config
    app[STATE] = HostState()

    async def client(app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http:
            app[HTTP] = http
            yield

    app.cleanup_ctx.append(client)
    r = app.router
    r.add_get("/", to_login)
    if config.box_dir.is_dir():
        r.add_static("/box/", config.box_dir)
    # The login box's start-up calls: a tenant with email and password only, no SSO, no
    # social logins, no sign-up, no captcha.
    r.add_get(FRONTEGG + "/metadata", answer({"rows": []}))
    r.add_get(FRONTEGG + "/team/resources/sso/v2/configurations/public",
              answer({"isActive": False}))
    r.add_get(FRONTEGG + "/vendors/public", answer({"name": "MFA demo"}))
    r.add_get(IDENTITY + "/sso/v2", answer([]))
    r.add_get(IDENTITY + "/configurations/v1/public", answer({
        "allowSignups": False, "allowNotVerifiedUsersLogin": True, "apiTokensEnabled": False,
        "forcePermissions": False, "authStrategy": "EmailAndPassword"}))
    # Without secondaryAuthStrategies the box crashes.
    r.add_get(IDENTITY + "/configurations/v1/auth/strategies/public", answer({
        "authStrategy": "EmailAndPassword", "secondaryAuthStrategies": [],
        "isPasswordlessEnabled": False}))
    r.add_get(IDENTITY + "/configurations/v1/captcha-policy/public", answer({"enabled": False}))
    r.add_get(IDENTITY + "/configurations/sessions/v1", answer({}))
    # The login half: password, who is signed in, refresh, logout.
    r.add_post(IDENTITY + "/auth/v1/user", password_login)
    r.add_get(IDENTITY + "/users/v2/me", me)
    r.add_get(IDENTITY + "/users/v2/me/tenants", my_tenants)
    r.add_post(IDENTITY + "/auth/v1/user/token/refresh", refresh)
    r.add_post(IDENTITY + "/auth/v1/logout", logout)
    # Everything else the box sends under /frontegg/identity is the MFA service's.
    r.add_route("*", FRONTEGG + "/identity/{tail:.*}", to_mfa_service)
    # The box routes itself (login, MFA, recovery, the signed-in page): one page for all.
    r.add_get("/{tail:.*}", page)
    return app


def answer(body: Any) -> Handler:
    """A handler that always answers the same JSON (the host's fixed settings)."""

    async def handler(request: web.Request) -> web.Response:
        return web.json_response(body)

    return handler


def _error(status: int, message: str) -> web.Response:
    """Frontegg's error envelope, as the box reads it."""
    return web.json_response({"errors": [message], "errorCode": "ER-DEMO", "message": message},
                             status=status)


def _unreachable() -> web.Response:
    return _error(502, "The MFA service did not answer")


async def to_login(request: web.Request) -> web.Response:
    """GET /: the box's login page."""
    raise web.HTTPFound(LOGIN_PAGE)


async def page(request: web.Request) -> web.FileResponse:
    """The page that loads the box (the box's router reads the path)."""
    index = request.app[CONFIG].box_dir / "index.html"
    if not index.exists():
        raise web.HTTPServiceUnavailable(text="The login box is not built: make demo builds it.")
    return web.FileResponse(index, headers={"Cache-Control": "no-store",
                                            "Content-Security-Policy": CSP})


async def password_login(request: web.Request) -> web.Response:
    """POST .../auth/v1/user {email, password}: the team's password step, then the MFA
    service's session start, answered to the box as it is."""
    config = request.app[CONFIG]
    try:
        body = await request.json()
        email, password = str(body["email"]).strip(), str(body["password"])
    except (ValueError, KeyError, TypeError):
        return _error(400, "Email and password are required")
    if "@" not in email or not hmac.compare_digest(password.encode(), DEMO_PASSWORD.encode()):
        return _error(401, "Incorrect email or password")
    start = {"userId": user_id_for(email), "tenantId": config.tenant_id, "email": email,
             "rememberDeviceToken": request.cookies.get(config.remember_cookie),
             "clientIp": request.remote}
    try:
        async with request.app[HTTP].post(
                config.session_url + "/internal/v1/mfa/sessions", json=start,
                headers={"Authorization": f"Bearer {config.internal_api_key}"}) as up:
            started = await up.json(content_type=None)
            if up.status != 200:
                return web.json_response(started, status=up.status)
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return _unreachable()
    # The rotated remember-device token is the host's to set as the cookie, never the page's.
    rotated = started.pop("rememberDeviceToken", None)
    max_age = started.pop("rememberDeviceMaxAge", None)
    resp = web.json_response(started)
    if rotated:
        resp.set_cookie(config.remember_cookie, rotated, max_age=max_age, httponly=True,
                        secure=True, samesite="Lax", path="/")
    return resp


async def verified_claims(request: web.Request, token: str) -> dict[str, Any] | None:
    """The token's claims when the MFA service signed it (its JWKS), for this host's tenant,
    unexpired, proving MFA; else None."""
    config, state = request.app[CONFIG], request.app[STATE]
    try:
        kid = jwt.get_unverified_header(token).get("kid", "")
        if kid not in state.keys and time.monotonic() - state.fetched_at > JWKS_REFETCH_S:
            await _fetch_jwks(request)
        claims: dict[str, Any] = jwt.decode(
            token, state.keys[kid], algorithms=["EdDSA"], issuer=config.issuer,
            options={"require": ["exp", "iat", "sub", "iss"]})
    except (jwt.PyJWTError, KeyError):
        return None
    if claims.get("tenantId") != config.tenant_id or "mfa" not in (claims.get("amr") or []):
        return None
    return claims


async def _fetch_jwks(request: web.Request) -> None:
    """The MFA service's JWKS, fetched again (a key id the host has not seen yet)."""
    state = request.app[STATE]
    state.fetched_at = time.monotonic()
    url = request.app[CONFIG].mfa_url + "/.well-known/jwks.json"
    try:
        async with request.app[HTTP].get(url) as r:
            r.raise_for_status()
            jwks = await r.json()
    except (aiohttp.ClientError, TimeoutError, ValueError):
        raise web.HTTPBadGateway(text="The MFA service's JWKS did not answer") from None
    state.keys = {k["kid"]: jwt.PyJWK(k) for k in jwks["keys"]}


async def _bearer(request: web.Request) -> tuple[str, dict[str, Any]] | None:
    """The request's bearer token and its claims, when it verifies."""
    token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    claims = await verified_claims(request, token) if token else None
    return None if claims is None else (token, claims)


async def me(request: web.Request) -> web.Response:
    """GET .../users/v2/me: Frontegg's user, only for an access token that verifies with the
    JWKS. The host then keeps the user signed in (its own HttpOnly session cookie: a reload
    stays signed in)."""
    found = await _bearer(request)
    if found is None:
        return _error(401, "Not signed in")
    token, claims = found
    user, tenant = claims["sub"], claims["tenantId"]
    resp = web.json_response({
        "id": user, "sub": user, "email": claims["email"], "name": claims["email"],
        "tenantId": tenant, "tenantIds": [tenant], "tenants": [{"tenantId": tenant, "roles": []}],
        "roles": [], "permissions": [], "verified": True, "mfaEnrolled": True,
        "profilePictureUrl": None,
        "metadata": json.dumps({"verifiedWithKey": jwt.get_unverified_header(token)["kid"]})})
    sessions = request.app[STATE].sessions
    if sessions.get(request.cookies.get(SESSION_COOKIE, ""), ("", 0))[0] != token:
        now = time.time()
        for sid in [s for s, (_, exp) in sessions.items() if exp <= now]:
            del sessions[sid]
        sid = secrets.token_urlsafe(24)
        sessions[sid] = (token, float(claims["exp"]))
        resp.set_cookie(SESSION_COOKIE, sid, httponly=True, secure=True, samesite="Lax",
                        path="/")
    return resp


async def my_tenants(request: web.Request) -> web.Response:
    """GET .../users/v2/me/tenants: the host's one tenant."""
    found = await _bearer(request)
    if found is None:
        return _error(401, "Not signed in")
    tenant = found[1]["tenantId"]
    return web.json_response([{"tenantId": tenant, "id": tenant, "name": "Demo tenant"}])


async def refresh(request: web.Request) -> web.Response:
    """POST .../token/refresh: the host's session, while its token still verifies; else 401
    (no session), as at the box's start."""
    sid = request.cookies.get(SESSION_COOKIE, "")
    token, _ = request.app[STATE].sessions.get(sid, ("", 0))
    claims = await verified_claims(request, token) if token else None
    if claims is None:
        request.app[STATE].sessions.pop(sid, None)
        return _error(401, "No session")
    return web.json_response({"accessToken": token, "refreshToken": "",
                              "expiresIn": int(claims["exp"] - time.time()),
                              "mfaRequired": False, "userId": claims["sub"],
                              "userEmail": claims["email"], "tenantId": claims["tenantId"]})


async def logout(request: web.Request) -> web.Response:
    """POST .../auth/v1/logout: forget the host's session."""
    request.app[STATE].sessions.pop(request.cookies.get(SESSION_COOKIE, ""), None)
    resp = web.json_response({})
    resp.del_cookie(SESSION_COOKIE, path="/")
    return resp


async def to_mfa_service(request: web.Request) -> web.Response:
    """The box's MFA calls, to the MFA service unchanged (hop-by-hop headers aside), and its
    answer back as it is: status, headers (Set-Cookie included), body."""
    headers = CIMultiDict((k, v) for k, v in request.headers.items() if k.lower() not in _HOP)
    url = URL(request.app[CONFIG].mfa_url.rstrip("/") + request.rel_url.raw_path_qs,
              encoded=True)
    try:
        async with request.app[HTTP].request(request.method, url, headers=headers,
                                             data=await request.read(),
                                             allow_redirects=False) as up:
            body = await up.read()
            out = CIMultiDict((k, v) for k, v in up.headers.items() if k.lower() not in _HOP)
            return web.Response(status=up.status, body=body, headers=out)
    except (aiohttp.ClientError, TimeoutError):
        return _unreachable()
