"""Frontegg's real client (@frontegg/rest-api) enrolls and verifies a key as its login box and
profile page do; the SoftAuthenticator plays the browser's navigator.credentials."""

from __future__ import annotations

import pytest

from tests.conftest import Ids, Stack, unavailable
from tests.contract.frontegg_client import FronteggApiError, FronteggClient, client_installed
from tests.support.webauthn_flows import DEVICE_TYPE, as_posted, key

MFA_ACR = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"


@pytest.fixture(autouse=True)
def _client() -> None:
    if not client_installed():
        unavailable("@frontegg/rest-api (npm ci --prefix tests/contract/js)")


async def test_the_real_client_enrolls_then_verifies_at_login(stack: Stack, ids: Ids) -> None:
    k = key("EdDSA", "platform")
    first = await stack.start_session(ids)
    async with FronteggClient(stack.url) as fc:
        pre = await fc.call("auth.preEnrollMFAWebAuthnForLogin", {"mfaToken": first["mfaToken"]})
        cred = k.create(pre["options"])
        enrolled = await fc.call("auth.enrollMFAWebAuthnForLoginV2", {
            "mfaToken": first["mfaToken"], "webauthnToken": pre["webauthnToken"],
            "deviceType": DEVICE_TYPE[cred["authenticatorAttachment"]], "options": cred})
        assert enrolled["user"]["recoveryCode"] == first["recoveryCode"]
        second = await stack.start_session(ids)
        device = second["mfaDevices"]["webauthn"][0]
        assert device["deviceType"] == "Platform"
        pre = await fc.call("auth.preVerifyMFAWebAuthnForLogin", device["id"],
                            {"mfaToken": second["mfaToken"]})
        assert set(pre["options"]) >= {"challenge", "allowCredentials", "rpId"}
        result = await fc.call("auth.verifyMFAWebAuthnForLoginV2", device["id"], {
            "mfaToken": second["mfaToken"], "webauthnToken": pre["webauthnToken"],
            "rememberDevice": False, "options": k.get(pre["options"])})
    user = result["user"]
    assert user["sub"] == ids.user and user["acr"] == MFA_ACR
    assert user["amr"] == ["mfa", "hwk"] and "recoveryCode" not in user


async def test_the_real_client_adds_and_removes_a_key_on_the_profile_page(
        stack: Stack, ids: Ids) -> None:
    k = key()
    token = stack.user_token(ids)
    async with FronteggClient(stack.url) as fc:
        pre = await fc.call("auth.preEnrollMFAWebAuthn", access_token=token)
        cred = k.create(pre["options"])
        enrolled = await fc.call("auth.enrollMFAWebAuthn", {
            "webauthnToken": pre["webauthnToken"], "deviceType": "CrossPlatform",
            "options": cred}, access_token=token)
        assert set(enrolled) == {"recoveryCode"}
        devices = await fc.call("auth.getMFADevices", access_token=token)
        device_id = devices["webauthn"][0]["id"]
        pre = await fc.call("auth.preDisableMFAWebAuthn", device_id, access_token=token)
        await fc.call("auth.disableMFAWebAuthn", device_id, {
            "webauthnToken": pre["webauthnToken"], "options": k.get(pre["options"])},
            access_token=token)
        devices = await fc.call("auth.getMFADevices", access_token=token)
    assert devices["webauthn"] == []


async def test_the_real_client_shows_our_errors(stack: Stack, ids: Ids) -> None:
    k = key()
    s = await stack.start_session(ids)
    async with FronteggClient(stack.url) as fc:
        pre = await fc.call("auth.preEnrollMFAWebAuthnForLogin", {"mfaToken": s["mfaToken"]})
        cred = k.create(pre["options"])
        cred["response"].pop("clientDataJSON")
        with pytest.raises(FronteggApiError) as err:
            await fc.call("auth.enrollMFAWebAuthnForLoginV2", {
                "mfaToken": s["mfaToken"], "webauthnToken": pre["webauthnToken"],
                "deviceType": "CrossPlatform", "options": cred})
    assert err.value.status_code == 400 and err.value.error_code == "ER-MFA-VALIDATION"
    assert "clientDataJSON" in err.value.message


async def test_the_real_client_registers_a_passkey_and_logs_in_with_it(stack: Stack,
                                                                       ids: Ids) -> None:
    """Passkeys through rest-api's own calls (the store's shapes: options under `options`,
    the assertion spread at the top level without a null userHandle)."""
    k = key(attachment="platform")
    token = stack.user_token(ids)
    async with FronteggClient(stack.url) as fc:
        session = await fc.call("auth.webAuthnCreateNewDeviceSession", access_token=token)
        cred = k.create({**session["options"], "excludeCredentials": []})
        await fc.call("auth.verifyNewDeviceSession", {
            "id": cred["id"], "response": cred["response"], "deviceType": "Platform"},
            access_token=token)
        [device] = (await fc.call("auth.getWebAuthnDevices", access_token=token))["devices"]
        assert device["deviceType"] == "Platform" and device["createdAt"]
        pre = await fc.call("auth.webAuthnPreLogin", {"email": ids.email})
        assert set(pre["options"]) >= {"challenge", "timeout", "rpId", "userVerification"}
        login = await fc.call("auth.webAuthnPostLogin", as_posted(k.get(pre["options"])))
        assert login["mfaRequired"] is False and login["amr"] == ["pwd-less", "hwk"]
        assert login["userId"] == ids.user
        await fc.call("auth.deleteWebAuthnDevice", device["id"], access_token=token)
        assert (await fc.call("auth.getWebAuthnDevices", access_token=token))["devices"] == []
