"""Sign-in with the host's identity provider: OpenID Connect's authorization-code flow with
PKCE (S256), a state bound to the browser and a nonce bound to the ID token. The provider's
discovery document and keys are fetched over HTTP and kept for an hour (keys again at once
for an unknown key id). The ID token's roles claim decides the console role."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
import jwt

from services.operators.console.config import ConsoleConfig
from shared.clock import Clock

CACHE_S = 3600.0
TIMEOUT = aiohttp.ClientTimeout(total=10)
ALGORITHMS = ("RS256", "PS256", "ES256", "EdDSA")


class SignInFailed(Exception):
    """The provider refused, or what it answered does not hold; the message is shown."""


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


@dataclass(frozen=True)
class Start:
    """Where to send the browser, and what to keep until it comes back."""

    url: str
    state: str
    verifier: str
    nonce: str


@dataclass(frozen=True)
class Identity:
    """Who signed in: the subject, a name to show, and the console role (None: no role)."""

    subject: str
    name: str
    role: str | None


def role_of(claims: dict[str, Any], config: ConsoleConfig) -> str | None:
    """admin, support or None, from the roles claim (a list, or a space-separated string)."""
    granted = claims.get(config.roles_claim)
    values = granted.split() if isinstance(granted, str) else granted
    if not isinstance(values, list):
        return None
    if config.admin_role in values:
        return "admin"
    return "support" if config.support_role in values else None


@dataclass
class OidcClient:
    """The console's OIDC relying party (one per process)."""

    config: ConsoleConfig
    clock: Clock
    _discovery: tuple[dict[str, Any], float] | None = None
    _keys: dict[str, Any] = field(default_factory=dict)
    _keys_at: float = 0.0

    async def _get(self, url: str) -> dict[str, Any]:
        try:
            async with aiohttp.ClientSession(timeout=TIMEOUT) as http, http.get(url) as r:
                if r.status != 200:
                    raise SignInFailed(f"The identity provider answered {r.status}")
                data = await r.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as e:
            raise SignInFailed("The identity provider could not be reached") from e
        if not isinstance(data, dict):
            raise SignInFailed("The identity provider's answer is not a JSON object")
        return data

    async def discovery(self) -> dict[str, Any]:
        """The provider's metadata (issuer checked), cached."""
        now = self.clock.time()
        if self._discovery is None or self._discovery[1] < now:
            doc = await self._get(f"{self.config.oidc_issuer}/.well-known/openid-configuration")
            if doc.get("issuer", "").rstrip("/") != self.config.oidc_issuer:
                raise SignInFailed("The identity provider names another issuer")
            self._discovery = (doc, now + CACHE_S)
        return self._discovery[0]

    async def start(self) -> Start:
        """A fresh state, nonce and PKCE verifier, and the authorization URL."""
        doc = await self.discovery()
        state, nonce, verifier = (secrets.token_urlsafe(32), secrets.token_urlsafe(32),
                                  secrets.token_urlsafe(48))
        query = urlencode({
            "response_type": "code", "client_id": self.config.oidc_client_id,
            "redirect_uri": self.config.redirect_uri, "scope": self.config.oidc_scopes,
            "state": state, "nonce": nonce, "code_challenge": _challenge(verifier),
            "code_challenge_method": "S256"})
        return Start(f"{doc['authorization_endpoint']}?{query}", state, verifier, nonce)

    async def finish(self, code: str, verifier: str, nonce: str) -> Identity:
        """Exchange the code (with the verifier) and check the ID token."""
        doc = await self.discovery()
        form = {"grant_type": "authorization_code", "code": code,
                "redirect_uri": self.config.redirect_uri, "code_verifier": verifier,
                "client_id": self.config.oidc_client_id}
        headers = {"Authorization": aiohttp.encode_basic_auth(
            self.config.oidc_client_id, self.config.oidc_client_secret)} \
            if self.config.oidc_client_secret else {}  # client_secret_basic, else public
        try:
            async with aiohttp.ClientSession(timeout=TIMEOUT) as http, http.post(
                    doc["token_endpoint"], data=form, headers=headers) as r:
                body = await r.json(content_type=None)
                status = r.status
        except (aiohttp.ClientError, TimeoutError, ValueError) as e:
            raise SignInFailed("The identity provider could not be reached") from e
        if status != 200 or not isinstance(body, dict) or "id_token" not in body:
            raise SignInFailed("The identity provider refused the sign-in")
        claims = await self._verify(str(body["id_token"]), doc)
        if not hmac_equal(claims.get("nonce"), nonce):
            raise SignInFailed("The sign-in does not match the one started here")
        subject = str(claims["sub"])
        name = claims.get("preferred_username") or claims.get("name") or subject
        return Identity(subject, str(name), role_of(claims, self.config))

    async def _key(self, kid: str | None, doc: dict[str, Any]) -> Any:
        now = self.clock.time()
        if kid not in self._keys or self._keys_at < now:
            jwks = await self._get(doc["jwks_uri"])
            self._keys = {k.get("kid"): jwt.PyJWK(k) for k in jwks.get("keys", [])
                          if k.get("use", "sig") == "sig"}
            self._keys_at = now + CACHE_S
        if kid not in self._keys:
            raise SignInFailed("The ID token is signed by a key the provider does not publish")
        return self._keys[kid].key

    async def _verify(self, token: str, doc: dict[str, Any]) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
            key = await self._key(header.get("kid"), doc)
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=list(ALGORITHMS), audience=self.config.oidc_client_id,
                issuer=doc["issuer"], options={"require": ["exp", "iat", "sub", "nonce"]},
                leeway=30)
        except jwt.PyJWTError as e:
            raise SignInFailed(f"The ID token does not hold: {e.__class__.__name__}") from e
        return claims


def hmac_equal(a: Any, b: str) -> bool:
    """Constant-time equality of a claim and the expected string."""
    return isinstance(a, str) and hmac.compare_digest(a.encode(), b.encode())
