"""The demo host over HTTP, in embedded and split mode: its password step starts the MFA
session, it treats a user as signed in only with an access token that verifies with the MFA
service's JWKS, it passes the MFA calls through unchanged, and its page loads nothing from
elsewhere. (The login box itself: test_login_box.py.)"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from demo.host import DEMO_PASSWORD, LOGIN_PAGE, SESSION_COOKIE, user_id_for
from shared.clock import FrozenClock
from shared.mfa.tokens import TokenIssuer, new_signing_key_pem
from tests.conftest import Ids, Stack
from tests.support.demo_host import start_host

IDENTITY = "/frontegg/identity/resources"
PAGE = "<!doctype html><title>box</title>"


@pytest.fixture
async def host(stack: Stack, ids: Ids, aiohttp_server: Any, tmp_path: Path) -> str:
    """The host with a page of its own (the box's bundle is not needed here)."""
    (tmp_path / "index.html").write_text(PAGE)
    return await start_host(stack, ids, aiohttp_server, box_dir=tmp_path)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A client that keeps no cookies: each test says which it sends."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as s:
        yield s


async def _json(r: aiohttp.ClientResponse) -> Any:
    return await r.json(content_type=None)


async def test_the_password_step_starts_the_mfa_session_for_the_right_password_only(
        stack: Stack, ids: Ids, host: str, http: aiohttp.ClientSession) -> None:
    login = host + IDENTITY + "/auth/v1/user"
    for body, status in (({"email": "ada@example.test", "password": "wrong"}, 401),
                         ({"email": "not-an-email", "password": DEMO_PASSWORD}, 401),
                         ({"email": "ada@example.test"}, 400), ([], 400)):
        async with http.post(login, json=body) as r:
            answer = await _json(r)
            assert r.status == status and answer["errors"] and "mfaToken" not in answer, answer
    async with http.post(login, json={"email": "ada@example.test",
                                      "password": DEMO_PASSWORD}) as r:
        started = await _json(r)
    assert r.status == 200, started
    # A new user: forced enrollment, with what the box needs to show it.
    assert started["mfaRequired"] and not started["mfaEnrolled"]
    assert started["mfaToken"] and started["qrCode"] and started["recoveryCode"]
    # The same email (as typed differently) is the same user, of the host's tenant.
    async with http.post(login, json={"email": " ADA@example.test",
                                      "password": DEMO_PASSWORD}) as r:
        again = await _json(r)
    sessions = [await stack.stores.sessions.load(a["mfaToken"]) for a in (started, again)]
    assert sessions[0] and sessions[1] and sessions[0].key != sessions[1].key
    assert sessions[0].user_id == sessions[1].user_id == user_id_for("ada@example.test")
    assert sessions[0].tenant_id == ids.tenant


async def test_only_a_token_that_verifies_with_the_jwks_signs_a_user_in(
        stack: Stack, ids: Ids, host: str, http: aiohttp.ClientSession) -> None:
    me = host + IDENTITY + "/users/v2/me"
    refresh = host + IDENTITY + "/auth/v1/user/token/refresh"
    tokens, s = stack.stores.tokens, stack.settings
    good = stack.user_token(ids)
    other_key = TokenIssuer(new_signing_key_pem(), s.jwt_key_id, tokens.clock,
                            issuer=s.jwt_issuer, ttl=3600)
    past = TokenIssuer(s.jwt_private_key, s.jwt_key_id, FrozenClock(time.time() - 7200),
                       issuer=s.jwt_issuer, ttl=3600)
    who = {"user_id": ids.user, "tenant_id": ids.tenant, "email": ids.email}
    head, _, signature = good.rpartition(".")
    refused = {
        "no token": None,
        "a changed signature": head + "." + signature[::-1],
        "another key, the same key id": other_key.issue(**who, amr=["mfa", "otp"])[0],
        "expired": past.issue(**who, amr=["mfa", "otp"])[0],
        "another tenant": stack.user_token(Ids()),
        "no MFA": tokens.issue(**who, amr=["pwd"], mfa=False)[0],
    }
    for why, token in refused.items():
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with http.get(me, headers=headers) as r:
            assert r.status == 401, why
            assert SESSION_COOKIE not in r.cookies, why
    async with http.get(me, headers={"Authorization": f"Bearer {good}"}) as r:
        user = await _json(r)
        assert r.status == 200, user
        session = r.cookies[SESSION_COOKIE]
    assert user["id"] == ids.user and user["email"] == ids.email
    assert session["httponly"] and session["secure"]
    # A reload: the host's session answers the refresh with the verified token.
    cookie = {"Cookie": f"{SESSION_COOKIE}={session.value}"}
    async with http.post(refresh, headers=cookie) as r:
        assert r.status == 200 and (await _json(r))["accessToken"] == good
    async with http.post(host + IDENTITY + "/auth/v1/logout", headers=cookie) as r:
        assert r.status == 200
    for headers in (cookie, {}):
        async with http.post(refresh, headers=headers) as r:
            assert r.status == 401


async def test_the_mfa_calls_reach_the_service_unchanged(
        stack: Stack, host: str, http: aiohttp.ClientSession) -> None:
    calls = [("GET", "/configurations/v1/mfa-policy/allow-remember-device?mfaToken=nope", None),
             ("POST", "/auth/v1/user/mfa/verify", {"mfaToken": "nope", "value": "123456"}),
             ("POST", "/auth/v1/user/mfa/recover", {"email": "a@example.test"}),
             ("POST", "/users/v1/mfa/enroll", {})]
    for method, path, body in calls:
        answers = []
        for base in (host, stack.url):
            async with http.request(method, base + IDENTITY + path, json=body) as r:
                answers.append((r.status, r.content_type, await _json(r)))
        assert answers[0] == answers[1], (path, answers)
        assert answers[0][0] >= 400 and answers[0][2]["errors"], (path, answers)


async def test_the_page_loads_nothing_from_elsewhere(host: str,
                                                     http: aiohttp.ClientSession) -> None:
    async with http.get(host + "/", allow_redirects=False) as r:
        assert r.status == 302 and r.headers["Location"] == LOGIN_PAGE
    async with http.get(host + LOGIN_PAGE) as r:
        assert r.status == 200 and await r.text() == PAGE
        policy = r.headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'self'" and directives["connect-src"] == "'self'"
    assert directives["script-src"] == "'self'" and "http" not in policy
