"""Host identity-provider tokens: only for this application (iss and aud always checked), only
under a configured kid; a configuration that would accept any token the IdP signs is refused."""

from __future__ import annotations

import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from shared.clock import FrozenClock
from shared.http.errors import Unauthorized
from shared.mfa.tokens import BearerVerifier, TokenIssuer, new_signing_key_pem
from shared.settings import Settings
from tests.conftest import Ids, Stack

ISSUER, AUDIENCE = "https://idp.example.test", "mfa-service-app"
DEVICES = "/resources/users/v1/mfa/devices"
POLICY = "/resources/configurations/v1/mfa-policy"
HOST_KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _jwks(*pairs: tuple[Any, str | None]) -> str:
    keys = []
    for key, kid in pairs:
        algo = jwt.algorithms.ECAlgorithm if isinstance(key, ec.EllipticCurvePrivateKey) \
            else jwt.algorithms.RSAAlgorithm
        jwk = json.loads(algo.to_jwk(key.public_key()))
        if kid is not None:
            jwk["kid"] = kid
        keys.append(jwk)
    return json.dumps({"keys": keys})


@pytest.fixture
def extra_env() -> dict[str, str]:
    """The host IdP's key, issuer and audience, as a deployment configures them (one key: the
    case where a verifier is tempted to use it for a token naming no or another kid)."""
    return {"MFA_HOST_JWKS": _jwks((HOST_KEY, "host-1")),
            "MFA_HOST_JWT_ISSUER": ISSUER, "MFA_HOST_JWT_AUDIENCE": AUDIENCE}


def host_token(ids: Ids, *, key: Any = HOST_KEY, kid: str | None = "host-1",
               **claims: Any) -> str:
    """A token the host IdP would sign for a user (claims override or, as None, drop)."""
    body = {"sub": ids.user, "tenantId": ids.tenant, "email": ids.email, "exp": 2**40,
            "iss": ISSUER, "aud": AUDIENCE, **claims}
    body = {k: v for k, v in body.items() if v is not None}
    alg = "ES256" if isinstance(key, ec.EllipticCurvePrivateKey) else "RS256"
    return jwt.encode(body, key, algorithm=alg, headers={"kid": kid} if kid else None)


async def test_a_host_token_for_this_application_is_accepted(stack: Stack, ids: Ids) -> None:
    assert (await stack.get(DEVICES, token=host_token(ids)))["authenticators"] == []


@pytest.mark.parametrize("change", [
    {"iss": "https://other-idp.example.test"}, {"iss": None},
    {"aud": "another-application"}, {"aud": None}, {"aud": ["another-application"]},
    {"kid": "host-9"}, {"kid": None}, {"key": OTHER_KEY, "kid": "host-1"},
], ids=["wrong-iss", "no-iss", "wrong-aud", "no-aud", "wrong-aud-list", "unknown-kid",
        "missing-kid", "another-key-under-its-kid"])
async def test_other_host_tokens_are_refused(stack: Stack, ids: Ids,
                                             change: dict[str, Any]) -> None:
    err = await stack.get(DEVICES, token=host_token(ids, **change), expected_status=401)
    assert err["errorCode"] == "ER-MFA-UNAUTHORIZED"


async def test_an_admin_token_minted_for_another_application_cannot_set_policy(
        stack: Stack, ids: Ids) -> None:
    before = await stack.get(POLICY, token=host_token(ids))
    stranger = host_token(ids, aud="another-application", roles=["Admin"])
    await stack.post(POLICY, {"strategies": ["SMS"]}, token=stranger, expected_status=401)
    assert await stack.get(POLICY, token=host_token(ids)) == before
    admin = host_token(ids, roles=["Admin"])
    assert (await stack.post(POLICY, {"strategies": ["SMS"]}, token=admin))["strategies"] \
        == ["SMS"]


@pytest.mark.parametrize("env", [{}, {"MFA_HOST_JWT_ISSUER": ISSUER},
                                 {"MFA_HOST_JWT_AUDIENCE": AUDIENCE}])
def test_host_keys_without_issuer_and_audience_refuse_to_start(env: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="MFA_HOST_JWT_ISSUER and MFA_HOST_JWT_AUDIENCE"):
        Settings.from_env({"MFA_HOST_JWKS": _jwks((HOST_KEY, "host-1")), **env})


def _verifier(jwks: str, issuer: str = ISSUER, audience: str = AUDIENCE) -> BearerVerifier:
    tokens = TokenIssuer(new_signing_key_pem(), "k1", FrozenClock(), issuer="mfa", ttl=60)
    return BearerVerifier(tokens, host_jwks=jwks, host_issuer=issuer, host_audience=audience)


def test_the_verifier_itself_refuses_a_host_jwks_without_issuer_or_audience() -> None:
    for issuer, audience in (("", AUDIENCE), (ISSUER, ""), ("", "")):
        with pytest.raises(ValueError, match="MFA_HOST_JWT_ISSUER"):
            _verifier(_jwks((HOST_KEY, "host-1")), issuer, audience)


@pytest.mark.parametrize("jwks", [_jwks((HOST_KEY, None)), '{"keys": []}', "[1]", "{"])
def test_a_host_jwks_whose_keys_cannot_be_told_apart_by_kid_is_refused(jwks: str) -> None:
    with pytest.raises(ValueError, match="MFA_HOST_JWKS"):
        _verifier(jwks)


def test_each_host_key_verifies_only_tokens_naming_its_kid() -> None:
    verifier = _verifier(_jwks((HOST_KEY, "host-1"), (OTHER_KEY, "host-2")))
    ids = Ids()
    bearer = verifier.principal
    assert bearer(f"Bearer {host_token(ids, key=OTHER_KEY, kid='host-2')}").user_id == ids.user
    assert bearer(f"Bearer {host_token(ids)}").tenant_id == ids.tenant
    for token in (host_token(ids, key=OTHER_KEY, kid="host-1"), host_token(ids, kid=None),
                  host_token(ids, key=OTHER_KEY, kid=None)):
        with pytest.raises(Unauthorized):
            bearer(f"Bearer {token}")


def test_our_access_tokens_are_standard_jws_that_pyjwt_verifies_with_the_jwks() -> None:
    """The issuer encodes the header once and signs by hand: the result must be exactly what a
    relying party's JWT library accepts with the published JWKS (and nothing else)."""
    clock = FrozenClock(1_700_000_000)
    issuer = TokenIssuer(new_signing_key_pem(), "kid-7", clock, issuer="mfa-test", ttl=600,
                         audience="app-1")
    token, exp = issuer.issue(user_id="u1", tenant_id="t1", email="u1@x.test",
                              amr=["mfa", "otp"])
    assert jwt.get_unverified_header(token) == {"alg": "EdDSA", "kid": "kid-7", "typ": "JWT"}
    key = jwt.PyJWK(issuer.jwks()["keys"][0])
    claims = jwt.decode(token, key, algorithms=["EdDSA"], audience="app-1", issuer="mfa-test",
                        options={"verify_exp": False})
    assert (claims["sub"], claims["tenantId"], claims["amr"], claims["exp"]) == (
        "u1", "t1", ["mfa", "otp"], exp)
    assert issuer.verify(token) == claims
    head, body, sig = token.split(".")
    forged = f"{head}.{body[:-2]}{'A' if body[-2] != 'A' else 'B'}{body[-1]}.{sig}"
    assert issuer.verify(forged) is None
