"""Step-up never launders freshness, and a recovery retires every older bearer token."""

from __future__ import annotations

import jwt
import pytest

from tests.conftest import Ids, Stack
from tests.support.totp_flows import USERS, code

STEP_UP = "/resources/auth/v1/user/step-up/generate"
RECOVER = "/resources/auth/v1/user/mfa/recover"


@pytest.fixture
def extra_env() -> dict[str, str]:
    """A cap well inside an access token's hour, so a token can outlive it."""
    return {"MFA_STEP_UP_MAX_AGE": "900"}


def claims(token: str) -> dict:
    """The unverified claims of a token (the tests check what was signed)."""
    return jwt.decode(token, options={"verify_signature": False})


async def _enrolled(stack: Stack, ids: Ids) -> str:
    """A user with an authenticator; the recovery code."""
    token = stack.user_token(ids)
    pre = await stack.post(f"{USERS}/authenticator/enroll", token=token)
    done = await stack.post(f"{USERS}/authenticator/enroll/verify",
                            {"token": code(stack, pre["secret"])}, token=token)
    stack.clock.advance(30)
    return str(done["recoveryCode"])


async def test_a_renewed_token_keeps_its_auth_time_and_does_not_outlive_the_old_one(
        stack: Stack, ids: Ids) -> None:
    await _enrolled(stack, ids)
    old = stack.user_token(ids)
    stack.clock.advance(600)
    renewed = await stack.post(STEP_UP, {"maxAge": 900}, token=old)
    assert renewed["mfaRequired"] is False
    before, after = claims(old), claims(renewed["accessToken"])
    assert after["auth_time"] == before["auth_time"] == renewed["auth_time"]
    assert after["exp"] <= before["exp"]
    # The renewed token is no fresher: a small maxAge still asks for MFA.
    again = await stack.post(STEP_UP, {"maxAge": 60}, token=renewed["accessToken"])
    assert again["mfaToken"] and "accessToken" not in again


async def test_max_age_is_capped(stack: Stack, ids: Ids) -> None:
    await _enrolled(stack, ids)
    old = stack.user_token(ids)
    stack.clock.advance(stack.settings.step_up_max_age + 5)
    body = await stack.post(STEP_UP, {"maxAge": 10 * 365 * 86400}, token=old)
    assert body["mfaToken"] and "accessToken" not in body


async def test_a_recovery_retires_every_older_bearer_token(stack: Stack, ids: Ids) -> None:
    recovery = await _enrolled(stack, ids)
    await stack.start_session(ids)  # the host's call records the user's email
    old = stack.user_token(ids)
    await stack.get("/resources/users/v1/mfa/devices", token=old)
    stack.clock.advance(5)
    await stack.post(RECOVER, {"email": ids.email, "recoveryCode": recovery})
    for method, path in (("GET", "/resources/users/v1/mfa/devices"), ("POST", STEP_UP),
                         ("POST", f"{USERS}/authenticator/enroll")):
        res = await stack.call(method, path, json={}, token=old, expected_status=401)
        assert res["errorCode"] == "ER-MFA-TOKEN-RETIRED", (path, res)
    stack.clock.advance(1)
    await stack.get("/resources/users/v1/mfa/devices", token=stack.user_token(ids))


async def test_a_retired_admin_token_changes_no_tenant_configuration(stack: Stack,
                                                                      ids: Ids) -> None:
    """The review's L6: the configuration routes refuse a retired token like the others."""
    recovery = await _enrolled(stack, ids)
    await stack.start_session(ids)
    old = stack.user_token(ids, roles=["Admin"])
    policy = "/resources/configurations/v1/mfa-policy"
    await stack.get(policy, token=old)
    stack.clock.advance(5)
    await stack.post(RECOVER, {"email": ids.email, "recoveryCode": recovery})
    for method, path, body in (("PATCH", policy, {"enforceMFAType": "DontForce"}),
                               ("GET", policy, None),
                               ("POST", "/resources/configurations/v1/lockout-policy",
                                {"enabled": True, "maxAttempts": 3})):
        res = await stack.call(method, path, json=body, token=old, expected_status=401)
        assert res["errorCode"] == "ER-MFA-TOKEN-RETIRED", (path, res)
    assert (await stack.stores.policies.get(ids.tenant)).enforceMFAType == "Force"
    stack.clock.advance(1)
    await stack.call("PATCH", policy, json={"enforceMFAType": "DontForce"},
                     token=stack.user_token(ids, roles=["Admin"]))
