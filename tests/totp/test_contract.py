"""Frontegg's real JavaScript client (@frontegg/rest-api 7.119.0) drives the TOTP flows the
login box and the profile page use, against the whole stack in both modes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.conftest import Ids, Stack, unavailable
from tests.contract.frontegg_client import FronteggApiError, FronteggClient, client_installed
from tests.support.codes import wrong_code
from tests.support.totp_flows import code, enroll, import_token, login


@pytest.fixture
async def fc(stack: Stack) -> AsyncIterator[FronteggClient]:
    """The real client pointed at the gateway (it adds /frontegg/identity itself)."""
    if not client_installed():
        unavailable("the Frontegg client (npm ci --prefix tests/contract/js)")
    async with FronteggClient(stack.url) as client:
        yield client


def assert_logged_in(result: dict[str, Any], ids: Ids) -> dict[str, Any]:
    """A V2 result: {user, tenants, activeTenant}, JWT claims merged into user."""
    assert set(result) == {"user", "tenants", "activeTenant"}
    user = result["user"]
    assert user["mfaRequired"] is False and user["accessToken"].count(".") == 2
    assert (user["sub"], user["tenantId"], user["email"]) == (ids.user, ids.tenant, ids.email)
    assert "mfa" in user["amr"] and "otp" in user["amr"]
    return dict(user)


async def test_login_box_totp_login(stack: Stack, ids: Ids, fc: FronteggClient) -> None:
    seed, _ = await enroll(stack, ids)
    token = await login(stack, ids)
    with pytest.raises(FronteggApiError) as err:
        await fc.call("auth.loginWithMfaV2", {"mfaToken": token,
                                              "value": wrong_code(code(stack, seed)),
                                              "rememberDevice": False})
    assert (err.value.status_code, err.value.error_code) == (400, "ER-MFA-INVALID-CODE")
    assert err.value.message == "Invalid or expired code"
    result = await fc.call("auth.loginWithMfaV2", {"mfaToken": token, "value": code(stack, seed),
                                                   "rememberDevice": False})
    user = assert_logged_in(result, ids)
    assert "recoveryCode" not in user


async def test_login_box_forced_enrollment(stack: Stack, ids: Ids, fc: FronteggClient) -> None:
    start = await stack.start_session(ids)
    assert start["mfaEnrolled"] is False and start["mfaStrategies"][0] == "AuthenticatorApp"
    result = await fc.call("auth.loginWithMfaV2",
                           {"mfaToken": start["mfaToken"], "value": code(stack, start["secret"]),
                            "rememberDevice": False})
    user = assert_logged_in(result, ids)
    assert user["recoveryCode"] == start["recoveryCode"]
    devices = await fc.call("auth.getMFADevices", access_token=user["accessToken"])
    assert len(devices["authenticators"]) == 1


async def test_enroll_for_login_v2(stack: Stack, ids: Ids, fc: FronteggClient) -> None:
    start = await stack.start_session(ids)
    pre = await fc.call("auth.preEnrollMFAAuthenticatorAppForLogin",
                        {"mfaToken": start["mfaToken"]})
    assert pre["secret"] == start["secret"] and pre["qrCode"].startswith("data:image/png")
    result = await fc.call("auth.enrollMFAAuthenticatorAppForLoginV2",
                           {"mfaToken": start["mfaToken"], "token": code(stack, pre["secret"]),
                            "rememberDevice": False})
    assert assert_logged_in(result, ids)["recoveryCode"] == start["recoveryCode"]


async def test_verify_for_login_with_device_id(stack: Stack, ids: Ids, fc: FronteggClient
                                               ) -> None:
    seed, device_id = await enroll(stack, ids)
    body = await fc.call("auth.verifyMFAAuthenticatorAppForLogin", device_id,
                         {"mfaToken": await login(stack, ids), "value": code(stack, seed)})
    assert body["mfaRequired"] is False and body["userId"] == ids.user


async def test_login_box_with_an_imported_hotp_token(stack: Stack, ids: Ids,
                                                     fc: FronteggClient) -> None:
    """An HOTP hardware token is an authenticator to the client: the login box's
    loginWithMfaV2 and the device's verify both take its codes, each once."""
    token, device_id = await import_token(stack, ids, counter=7)
    start = await stack.start_session(ids)
    assert start["mfaDevices"]["authenticators"] == [{"id": device_id}]
    result = await fc.call("auth.loginWithMfaV2", {"mfaToken": start["mfaToken"],
                                                   "value": token.at(7), "rememberDevice": False})
    assert_logged_in(result, ids)
    with pytest.raises(FronteggApiError) as err:
        await fc.call("auth.verifyMFAAuthenticatorAppForLogin", device_id,
                      {"mfaToken": await login(stack, ids), "value": token.at(7)})
    assert (err.value.status_code, err.value.error_code) == (400, "ER-MFA-INVALID-CODE")
    body = await fc.call("auth.verifyMFAAuthenticatorAppForLogin", device_id,
                         {"mfaToken": await login(stack, ids), "value": token.at(9)})
    assert body["mfaRequired"] is False and body["amr"] == ["mfa", "otp"]
    devices = await fc.call("auth.getMFADevices", access_token=body["accessToken"])
    assert [(d["id"], d["name"]) for d in devices["authenticators"]] == [
        (device_id, "Hardware token")]


async def test_profile_page_enroll_verify_disable(stack: Stack, ids: Ids, fc: FronteggClient
                                                  ) -> None:
    jwt = stack.user_token(ids)
    pre = await fc.call("auth.enrollMfa", access_token=jwt)
    assert pre["qrCode"].startswith("data:image/png;base64,") and pre["secret"]
    done = await fc.call("auth.verifyMfa", {"token": code(stack, pre["secret"])},
                         access_token=jwt)
    assert set(done) == {"recoveryCode"}
    stack.clock.advance(30)
    with pytest.raises(FronteggApiError) as err:
        await fc.call("auth.disableMfa", {"token": wrong_code(code(stack, pre["secret"]))},
                      access_token=jwt)
    assert err.value.status_code == 400
    await fc.call("auth.disableMfa", {"token": code(stack, pre["secret"])}, access_token=jwt)
    devices = await fc.call("auth.getMFADevices", access_token=jwt)
    assert devices["authenticators"] == []


async def test_profile_page_disable_with_recovery_code(stack: Stack, ids: Ids,
                                                       fc: FronteggClient) -> None:
    jwt = stack.user_token(ids)
    pre = await fc.call("auth.enrollMfa", access_token=jwt)
    done = await fc.call("auth.verifyMfa", {"token": code(stack, pre["secret"])},
                         access_token=jwt)
    await fc.call("auth.disableMfa", {"token": done["recoveryCode"]}, access_token=jwt)
    assert await stack.stores.devices.list_for_user(ids.tenant, ids.user) == []


async def test_authenticator_app_functions(stack: Stack, ids: Ids, fc: FronteggClient) -> None:
    jwt = stack.user_token(ids)
    pre = await fc.call("auth.preEnrollMFAAuthenticatorApp", access_token=jwt)
    assert set(pre) == {"qrCode", "secret"}
    done = await fc.call("auth.enrollMFAAuthenticatorApp", {"token": code(stack, pre["secret"])},
                         access_token=jwt)
    assert "recoveryCode" in done
    devices = await fc.call("auth.getMFADevices", access_token=jwt)
    device_id = devices["authenticators"][0]["id"]
    stack.clock.advance(30)
    with pytest.raises(FronteggApiError) as err:
        await fc.call("auth.disableMFAAuthenticatorApp", "not-a-device",
                      {"token": code(stack, pre["secret"])}, access_token=jwt)
    assert (err.value.status_code, err.value.error_code) == (400, "ER-MFA-INVALID-CODE")
    await fc.call("auth.disableMFAAuthenticatorApp", device_id,
                  {"token": code(stack, pre["secret"])}, access_token=jwt)
    assert (await fc.call("auth.getMFADevices", access_token=jwt))["authenticators"] == []


async def test_missing_bearer_is_a_client_error(stack: Stack, ids: Ids, fc: FronteggClient
                                                ) -> None:
    with pytest.raises(FronteggApiError) as err:
        await fc.call("auth.preEnrollMFAAuthenticatorApp")
    assert (err.value.status_code, err.value.error_code) == (401, "ER-MFA-UNAUTHORIZED")
