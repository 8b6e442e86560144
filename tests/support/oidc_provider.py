"""A small OpenID Connect provider of the tests' own, served over real HTTP: discovery,
authorize (a page with one button per known person; no password), token (checks the client,
the redirect URI and the PKCE verifier, codes single-use) and JWKS. ID tokens are RS256,
signed with a key made for the run, carrying the person's roles."""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

CLIENT_ID = "mfa-console"
CLIENT_SECRET = "console-test-secret"
PEOPLE: dict[str, dict[str, Any]] = {
    "ann": {"name": "Ann Support", "roles": ["mfa-support"]},
    "bob": {"name": "Bob Admin", "roles": ["staff", "mfa-admin"]},
    "eve": {"name": "Eve Nobody", "roles": ["staff"]},
}


@dataclass
class Provider:
    """The provider's state: the issuer URL (set once served), the redirect URIs it knows,
    codes issued, and what the token endpoint saw (for assertions)."""

    redirect_uris: list[str] = field(default_factory=list)
    issuer: str = ""
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    exchanges: list[dict[str, str]] = field(default_factory=list)
    overrides: dict[str, Any] = field(default_factory=dict)  # claims the next tokens change
    key: Any = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))
    kid: str = field(default_factory=lambda: secrets.token_hex(4))

    def app(self) -> web.Application:
        """The provider's routes."""
        app = web.Application()
        app.router.add_get("/.well-known/openid-configuration", self.discovery)
        app.router.add_get("/authorize", self.authorize)
        app.router.add_post("/authorize", self.approve)
        app.router.add_post("/token", self.token)
        app.router.add_get("/jwks", self.jwks)
        return app

    async def discovery(self, request: web.Request) -> web.Response:
        return web.json_response({
            "issuer": self.issuer, "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token", "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"], "id_token_signing_alg_values_supported":
                ["RS256"], "code_challenge_methods_supported": ["S256"]})

    async def authorize(self, request: web.Request) -> web.Response:
        q = request.query
        if q.get("client_id") != CLIENT_ID or q.get("redirect_uri") not in self.redirect_uris:
            return web.Response(status=400, text="unknown client or redirect_uri")
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            return web.Response(status=400, text="PKCE (S256) is required")
        hidden = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                         for k, v in q.items())
        buttons = "".join(f'<button name="person" value="{p}">Sign in as {p}</button>'
                          for p in PEOPLE)
        return web.Response(content_type="text/html", text=(
            "<!doctype html><title>Test IdP</title><h1>Test identity provider</h1>"
            f'<form method="post" action="/authorize">{hidden}{buttons}</form>'))

    async def approve(self, request: web.Request) -> web.Response:
        form = await request.post()
        code = secrets.token_urlsafe(24)
        self.codes[code] = {k: str(v) for k, v in form.items()}
        target = f"{form['redirect_uri']}?{urlencode({'code': code, 'state': form['state']})}"
        return web.Response(status=303, headers={"Location": target})

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        self.exchanges.append({k: str(v) for k, v in form.items()})
        auth = request.headers.get("Authorization", "")
        basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if auth != f"Basic {basic}":
            return web.json_response({"error": "invalid_client"}, status=401)
        grant = self.codes.pop(str(form.get("code", "")), None)  # single use
        verifier = str(form.get("code_verifier", ""))
        challenge = base64.urlsafe_b64encode(
            hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        if (grant is None or grant["redirect_uri"] != form.get("redirect_uri")
                or grant["code_challenge"] != challenge):
            return web.json_response({"error": "invalid_grant"}, status=400)
        person = grant["person"]
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": CLIENT_ID, "sub": f"sub-{person}",
                  "preferred_username": person, "name": PEOPLE[person]["name"],
                  "roles": PEOPLE[person]["roles"], "nonce": grant["nonce"], "iat": now,
                  "exp": now + 300, **self.overrides}
        id_token = jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})
        return web.json_response({"access_token": secrets.token_urlsafe(16),
                                  "token_type": "Bearer", "id_token": id_token})

    async def jwks(self, request: web.Request) -> web.Response:
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return web.json_response({"keys": [{**jwk, "kid": self.kid, "use": "sig",
                                             "alg": "RS256"}]})
