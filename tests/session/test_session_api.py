"""Through the gateway: the session start, devices, step-up, recovery and JWKS (session), and
the tenant policy and strategies they follow (served by operators)."""

from __future__ import annotations

from typing import Any

import aiohttp
import jwt
import pytest

from tests.conftest import Ids, Stack
from tests.support.responses import assert_envelope
from tests.support.totp_flows import enroll_totp_device

POLICY = "/resources/configurations/v1/mfa-policy"


async def test_session_start_requires_the_internal_api_key(stack: Stack, ids: Ids) -> None:
    url = stack.session_url + "/internal/v1/mfa/sessions"
    body = {"userId": ids.user, "tenantId": ids.tenant, "email": ids.email}
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        async with stack.http.post(url, json=body, headers=headers) as r:
            assert r.status == 401
            assert_envelope(await r.json())


@pytest.mark.parametrize("body", [{"tenantId": "t", "email": "a@b.test"},
                                  {"userId": "u", "tenantId": "t", "email": "not-an-email"},
                                  {"userId": 1, "tenantId": "t", "email": "a@b.test"}])
async def test_session_start_rejects_bad_input(stack: Stack, body: dict[str, Any]) -> None:
    url = stack.session_url + "/internal/v1/mfa/sessions"
    headers = {"Authorization": f"Bearer {stack.settings.internal_api_key}"}
    async with stack.http.post(url, json=body, headers=headers) as r:
        assert r.status == 400
        assert_envelope(await r.json())


async def test_enrolled_user_gets_devices_and_no_enrollment_secrets(stack: Stack,
                                                                    ids: Ids) -> None:
    d = await enroll_totp_device(stack, ids)
    body = await stack.start_session(ids)
    assert body["mfaRequired"] is True and body["mfaEnrolled"] is True
    assert body["mfaDevices"] == {"webauthn": [], "phones": [], "authenticators": [{"id": d.id}],
                                  "emails": []}
    assert "qrCode" not in body and "secret" not in body and "recoveryCode" not in body


async def test_dont_force_policy_lets_unenrolled_user_through_with_a_signed_token(
        stack: Stack, ids: Ids) -> None:
    await stack.set_policy(ids, enforceMFAType="DontForce")
    body = await stack.start_session(ids)
    assert body["mfaRequired"] is False
    jwks = await stack.get("/.well-known/jwks.json")
    key = jwt.PyJWK(jwks["keys"][0])
    claims = jwt.decode(body["accessToken"], key, algorithms=["EdDSA"],
                        options={"verify_exp": False})
    assert claims["sub"] == ids.user and claims["tenantId"] == ids.tenant
    assert claims["amr"] == ["pwd"] and "acr" not in claims


async def test_remembered_device_skips_mfa_only_for_its_user_and_when_allowed(
        stack: Stack, ids: Ids) -> None:
    await enroll_totp_device(stack, ids)
    token = await stack.stores.remembered.issue(ids.tenant, ids.user, 3600)
    assert (await stack.start_session(ids, rememberDeviceToken=token))["mfaRequired"] is True
    await stack.set_policy(ids, allowRememberMyDevice=True)
    body = await stack.start_session(ids, rememberDeviceToken=token)
    assert body["mfaRequired"] is False and body["accessToken"].count(".") == 2
    other = ids.other()
    await enroll_totp_device(stack, other)
    assert (await stack.start_session(other, rememberDeviceToken=token))["mfaRequired"] is True
    stack.clock.advance(3601)
    assert (await stack.start_session(ids, rememberDeviceToken=token))["mfaRequired"] is True


async def test_allow_remember_device_reads_the_session_tenant_policy(stack: Stack,
                                                                    ids: Ids) -> None:
    await stack.set_policy(ids, allowRememberMyDevice=True, mfaDeviceExpiration=86400)
    token = (await stack.start_session(ids))["mfaToken"]
    path = "/resources/configurations/v1/mfa-policy/allow-remember-device"
    body = await stack.get(f"{path}?mfaToken={token}")
    assert body == {"isAllowedToRemember": True, "mfaDeviceExpiration": 86400}
    stack.clock.advance(stack.settings.mfa_token_ttl + 1)
    assert_envelope(await stack.get(f"{path}?mfaToken={token}", expected_status=401))
    assert_envelope(await stack.get(path, expected_status=401))


async def test_policy_write_needs_tenant_admin(stack: Stack, ids: Ids) -> None:
    user = stack.user_token(ids)
    admin = stack.user_token(ids, roles=["Admin"])
    assert_envelope(await stack.post(POLICY, {"enforceMFAType": "DontForce"}, token=user,
                                     expected_status=403))
    saved = await stack.post(POLICY, {"enforceMFAType": "DontForce", "strategies": ["SMS"]},
                             token=admin)
    assert saved["enforceMFAType"] == "DontForce" and saved["strategies"] == ["SMS"]
    patched = await stack.call("PATCH", POLICY, json={"allowRememberMyDevice": True},
                               token=admin)
    assert patched["strategies"] == ["SMS"] and patched["allowRememberMyDevice"] is True
    assert patched["id"] == saved["id"]
    assert (await stack.get(POLICY, token=user)) == patched
    other_tenant = Ids()
    assert (await stack.get(POLICY, token=stack.user_token(other_tenant)))["id"] == "default"


@pytest.mark.parametrize("body", [{"enforceMFAType": "Sometimes"}, {"strategies": ["Pigeon"]},
                                  {"mfaDeviceExpiration": 10**9},
                                  {"mfaDeviceExpiration": "30"},
                                  {"phoneNumberRegexp": "(unclosed"}])
async def test_policy_rejects_bad_values_and_changes_nothing(stack: Stack, ids: Ids,
                                                             body: dict[str, Any]) -> None:
    admin = stack.user_token(ids, roles=["Admin"])
    before = await stack.get(POLICY, token=admin)
    assert_envelope(await stack.post(POLICY, body, token=admin, expected_status=400))
    assert await stack.get(POLICY, token=admin) == before


async def test_strategies_lists_every_strategy_with_its_state(stack: Stack, ids: Ids) -> None:
    await stack.set_policy(ids, strategies=["AuthenticatorApp", "EmailCode"])
    body = await stack.get("/resources/configurations/v1/mfa/strategies",
                           token=stack.user_token(ids))
    active = {s["strategy"]: s["isActive"] for s in body["strategies"]}
    assert active == {"AuthenticatorApp": True, "WebAuthnPlatform": False,
                      "WebAuthnCrossPlatform": False, "SMS": False, "EmailCode": True,
                      "Passkeys": False}


async def test_devices_lists_four_arrays_and_email_when_allowed(stack: Stack, ids: Ids) -> None:
    assert_envelope(await stack.get("/resources/users/v1/mfa/devices", expected_status=401))
    d = await enroll_totp_device(stack, ids)
    await stack.set_policy(ids, strategies=["AuthenticatorApp", "EmailCode"])
    body = await stack.get("/resources/users/v1/mfa/devices", token=stack.user_token(ids))
    listed = {"id": d.id, "name": "Authenticator app", "lastUsedAt": None,
              "createdAt": body["authenticators"][0]["createdAt"]}
    assert body == {"webauthn": [], "phones": [], "authenticators": [listed],
                    "emails": [{"email": ids.email}]}


async def test_step_up_needs_enrollment_then_gives_an_mfa_session(stack: Stack,
                                                                  ids: Ids) -> None:
    path = "/resources/auth/v1/user/step-up/generate"
    token = stack.user_token(ids)
    body = await stack.post(path, {}, token=token, expected_status=400)
    assert body["errors"] == ["MFA is not enrolled"]
    await enroll_totp_device(stack, ids)
    body = await stack.post(path, {"maxAge": 60}, token=stack.user_token(ids, amr=["pwd"]))
    assert body["mfaEnrolled"] is True and body["mfaToken"]
    assert body["mfaDevices"]["authenticators"]
    fresh = await stack.post(path, {"maxAge": 60}, token=token)
    assert fresh["mfaRequired"] is False and fresh["accessToken"]
    assert_envelope(await stack.post(path, {}, token="not.a.jwt", expected_status=401))


async def test_recovery_removes_devices_once(stack: Stack, ids: Ids) -> None:
    await enroll_totp_device(stack, ids)
    await stack.start_session(ids)  # the host's call records the user's email
    code = await stack.stores.recovery.issue_if_missing(ids.tenant, ids.user, ids.email)
    assert code
    path = "/resources/auth/v1/user/mfa/recover"
    assert_envelope(await stack.post(path, {"email": ids.email, "recoveryCode": "WRONG-CODE"},
                                     expected_status=400))
    assert await stack.stores.devices.list_for_user(ids.tenant, ids.user)
    await stack.post(path, {"email": ids.email.upper(), "recoveryCode": code})
    assert await stack.stores.devices.list_for_user(ids.tenant, ids.user) == []
    assert_envelope(await stack.post(path, {"email": ids.email, "recoveryCode": code},
                                     expected_status=400))
    actions = [e["action"] for e in await stack.stores.audit.for_user(ids.tenant, ids.user)]
    assert "recovery" in actions


async def test_host_identity_provider_tokens_are_accepted_when_configured(
        aiohttp_server: Any, keys: dict[str, str], ids: Ids, tmp_path: Any) -> None:
    import json

    from cryptography.hazmat.primitives.asymmetric import ec

    from gateway.embedded import create_embedded_app
    from tests.conftest import make_settings

    host_key, stranger = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(
        ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(host_key.public_key()))
    jwk["kid"] = "host-1"
    settings = make_settings(keys, MFA_HOST_JWKS=json.dumps({"keys": [jwk]}),
                             MFA_HOST_JWT_ISSUER="https://idp.test", MFA_HOST_JWT_AUDIENCE="mfa",
                             MFA_VAR_DIR=str(tmp_path))
    srv = await aiohttp_server(create_embedded_app(settings))
    claims = {"sub": ids.user, "tenantId": ids.tenant, "email": ids.email, "exp": 2**40,
              "iss": "https://idp.test", "aud": "mfa"}
    good = jwt.encode(claims, host_key, algorithm="ES256", headers={"kid": "host-1"})
    bad = jwt.encode(claims, stranger, algorithm="ES256", headers={"kid": "host-1"})

    async with aiohttp.ClientSession() as http:
        url = str(srv.make_url("/resources/users/v1/mfa/devices"))
        async with http.get(url, headers={"Authorization": f"Bearer {good}"}) as r:
            assert r.status == 200 and (await r.json())["authenticators"] == []
        async with http.get(url, headers={"Authorization": f"Bearer {bad}"}) as r:
            assert r.status == 401


async def test_forced_enrollment_always_offers_a_fresh_recovery_code(stack: Stack,
                                                                     ids: Ids) -> None:
    first = await stack.start_session(ids)
    assert first["recoveryCode"]
    other = ids.other()
    old = await stack.stores.recovery.issue_if_missing(other.tenant, other.user, other.email)
    body = await stack.start_session(other)
    assert body["qrCode"] and body["secret"] and body["recoveryCode"] not in (None, old)
    # Shown, not yet stored: the old code works until the enrollment completes.
    assert await stack.stores.recovery.redeem_for_user(other.tenant, other.user, old or "")
