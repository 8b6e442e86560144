"""Access tokens this service signs (EdDSA/Ed25519, rotation by key id), the JWKS that proves
them, and bearer verification for logged-in routes (ours, or the host identity provider's)."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.clock import Clock
from shared.http.errors import Unauthorized
from shared.mfa.registry import MFA_LOGIN_AMR, PROOF_AMR

MFA_ACR = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"


def fresh_mfa(claims: dict[str, Any], within: float, now: float) -> bool:
    """The one answer to "did this token's user prove MFA recently?" (step-up, enrollments,
    passkeys, recovery-code sets): a multi-factor login (`acr`) whose amr shows a factor
    proven (otp, sms, hwk: registry.PROOF_AMR) with a password or by a passkey, at most
    `within` seconds ago. A password alone, a recovery code and a remembered browser are no
    proof."""
    amr = claims.get("amr") or []
    auth_time = claims.get("auth_time")
    return (claims.get("acr") == MFA_ACR and isinstance(amr, list)
            and any(m in amr for m in MFA_LOGIN_AMR) and any(m in amr for m in PROOF_AMR)
            and isinstance(auth_time, int | float) and not isinstance(auth_time, bool)
            and now - auth_time <= within)
_ALGS = ["EdDSA", "ES256", "RS256"]


@dataclass(frozen=True)
class Principal:
    """The logged-in user a bearer token names."""

    user_id: str
    tenant_id: str
    email: str
    claims: dict[str, Any] = field(default_factory=dict)


def fresh(claims: dict[str, Any], clock: Clock, leeway: float = 5.0) -> bool:
    """Expiry checked against the injected clock (PyJWT would use the wall clock)."""
    exp = claims.get("exp")
    return isinstance(exp, int | float) and exp + leeway > clock.time()


def _b64(raw: bytes) -> bytes:
    return base64.urlsafe_b64encode(raw).rstrip(b"=")


def _jwk(key: Any, kid: str) -> dict[str, Any]:
    """Public JWK of a key, with its kid."""
    if hasattr(key, "public_key"):
        key = key.public_key()
    jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(key))
    jwk.update({"kid": kid, "use": "sig", "alg": "EdDSA"})
    return jwk


class TokenIssuer:
    """Signs access tokens and publishes the keys that verify them."""

    def __init__(self, private_pem: str, key_id: str, clock: Clock, *, issuer: str,
                 ttl: int, audience: str = "", extra_jwks: str = "") -> None:
        key = serialization.load_pem_private_key(private_pem.encode(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("MFA_JWT_PRIVATE_KEY must be an Ed25519 private key (PEM)")
        self._key = key
        self._kid = key_id or "k1"
        self.clock = clock
        self._issuer = issuer
        self._ttl = ttl
        self._aud = audience
        extra = json.loads(extra_jwks)["keys"] if extra_jwks else []
        self._jwks = {"keys": [_jwk(key, self._kid), *extra]}
        self._verify_keys = {k["kid"]: jwt.PyJWK(k) for k in self._jwks["keys"]}
        self._header = _b64(orjson.dumps({"alg": "EdDSA", "kid": self._kid, "typ": "JWT"}))

    def jwks(self) -> dict[str, Any]:
        """The JSON Web Key Set: the active key and the previous ones still trusted."""
        return self._jwks

    def issue(self, *, user_id: str, tenant_id: str, email: str, amr: list[str],
              mfa: bool = True, auth_time: int | None = None, not_after: int | None = None,
              extra: dict[str, Any] | None = None) -> tuple[str, int]:
        """A signed access token and its expiry (Unix seconds), never later than
        `not_after` (a re-issued token does not outlive the one it replaces)."""
        now = int(self.clock.time())
        exp = now + self._ttl if not_after is None else min(now + self._ttl, not_after)
        claims: dict[str, Any] = {
            "sub": user_id, "tenantId": tenant_id, "email": email, "amr": amr,
            "iat": now, "exp": exp, "auth_time": auth_time or now, "iss": self._issuer,
            "jti": str(uuid.uuid4()), "type": "userToken",
        }
        if mfa:
            claims["acr"] = MFA_ACR
        if self._aud:
            claims["aud"] = self._aud
        claims.update(extra or {})
        # A compact JWS (RFC 7515) with the header encoded once at start-up: what jwt.encode
        # would build, without re-serialising the same header on every login.
        signing_input = self._header + b"." + _b64(orjson.dumps(claims))
        return (signing_input + b"." + _b64(self._key.sign(signing_input))).decode(), exp

    def verify(self, token: str) -> dict[str, Any] | None:
        """Claims of a token this service signed, or None when it is not one of ours."""
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError:
            return None
        key = self._verify_keys.get(kid or "")
        if key is None:
            return None
        try:
            claims = jwt.decode(token, key, algorithms=["EdDSA"], issuer=self._issuer,
                                audience=self._aud or None,
                                options={"verify_aud": bool(self._aud), "verify_exp": False,
                                         "verify_iat": False, "require": ["exp", "sub"]})
        except jwt.PyJWTError:
            return None
        return claims if fresh(claims, self.clock) else None


class BearerVerifier:
    """Checks `Authorization: Bearer` tokens: ours first, then the host IdP's configured keys."""

    def __init__(self, issuer: TokenIssuer, *, host_jwks: str = "", host_issuer: str = "",
                 host_audience: str = "") -> None:
        self._issuer = issuer
        self._host = host_keys(host_jwks, host_issuer, host_audience)
        self._host_iss = host_issuer
        self._host_aud = host_audience

    def claims(self, authorization: str | None) -> dict[str, Any]:
        """The verified claims of a bearer token (ours or the host IdP's); 401 otherwise."""
        if not authorization or not authorization.lower().startswith("bearer "):
            raise Unauthorized("Missing bearer token", code="ER-MFA-UNAUTHORIZED")
        token = authorization[7:].strip()
        claims = self._issuer.verify(token) or self._host_claims(token)
        if claims is None:
            raise Unauthorized("Invalid or expired token", code="ER-MFA-UNAUTHORIZED")
        return claims

    def principal(self, authorization: str | None) -> Principal:
        """The user of a valid bearer token; 401 otherwise."""
        claims = self.claims(authorization)
        tenant = claims.get("tenantId") or claims.get("tenant_id")
        if not isinstance(tenant, str) or not isinstance(claims.get("sub"), str) or not tenant:
            raise Unauthorized("Token lacks a user or tenant", code="ER-MFA-UNAUTHORIZED")
        return Principal(user_id=claims["sub"], tenant_id=tenant,
                         email=str(claims.get("email") or ""), claims=claims)

    def _host_claims(self, token: str) -> dict[str, Any] | None:
        """Claims of a host IdP token: its kid must name a configured key (no fallback to the
        only key), and iss and aud are always checked, so a token the same IdP minted for
        another application is refused."""
        if not self._host:
            return None
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            key = self._host.get(kid) if isinstance(kid, str) else None
            if key is None:
                return None
            claims = jwt.decode(token, key, algorithms=_ALGS, issuer=self._host_iss,
                                audience=self._host_aud,
                                options={"verify_exp": False, "verify_iat": False,
                                         "require": ["exp", "sub", "iss", "aud"]})
        except jwt.PyJWTError:
            return None
        return claims if fresh(claims, self._issuer.clock) else None


def host_keys(host_jwks: str, issuer: str, audience: str) -> dict[str, jwt.PyJWK]:
    """The host IdP's verification keys by kid; ValueError on a configuration that would let
    another application's tokens in (no issuer or audience, a key without kid)."""
    if not host_jwks:
        return {}
    if not issuer or not audience:
        raise ValueError("MFA_HOST_JWKS needs MFA_HOST_JWT_ISSUER and MFA_HOST_JWT_AUDIENCE: "
                         "without them any token the identity provider signs is accepted")
    try:
        keys = json.loads(host_jwks)["keys"]
        out = {k["kid"]: jwt.PyJWK(k) for k in keys if isinstance(k.get("kid"), str) and k["kid"]}
    except (ValueError, KeyError, TypeError, AttributeError, jwt.PyJWTError):
        raise ValueError("MFA_HOST_JWKS must be a JWKS: {\"keys\": [...]}") from None
    if len(out) != len(keys) or not out:
        raise ValueError("MFA_HOST_JWKS: every key needs a kid (tokens are matched by kid)")
    return out


def new_signing_key_pem() -> str:
    """A fresh Ed25519 private key in PEM (development keys)."""
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()
