"""Frontegg's real JavaScript client (@frontegg/rest-api 7.119.0, the `fc` fixture) drives the SMS
flows the login box and the profile page use, against the whole stack in both modes."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Ids, Stack
from tests.contract.frontegg_client import FronteggApiError, FronteggClient
from tests.sms.conftest import allow_sms, enroll_phone, new_phone
from tests.support.codes import wrong_code
from tests.support.sms_gateway import Inbox


def _logged_in(result: dict[str, Any], ids: Ids) -> dict[str, Any]:
    """A V2 result: {user, tenants, activeTenant}, the JWT's claims merged into user."""
    assert set(result) == {"user", "tenants", "activeTenant"}
    user = result["user"]
    assert user["mfaRequired"] is False and user["accessToken"].count(".") == 2
    assert (user["sub"], user["tenantId"], user["email"]) == (ids.user, ids.tenant, ids.email)
    assert user["amr"] == ["mfa", "sms"]
    return dict(user)


async def test_login_box_sms_login(stack: Stack, ids: Ids, inbox: Inbox,
                                   fc: FronteggClient) -> None:
    await allow_sms(stack, ids)
    device_id, phone = await enroll_phone(stack, ids, inbox)
    start = await stack.start_session(ids)
    assert start["mfaDevices"]["phones"][0]["id"] == device_id
    pre = await fc.call("auth.preVerifyMFASMSForLogin", device_id, {"mfaToken": start["mfaToken"]})
    assert pre == {"otcToken": pre["otcToken"], "phoneNumber": f"+1******{phone[-4:]}"}
    body = {"mfaToken": start["mfaToken"], "otcToken": pre["otcToken"], "rememberDevice": False}
    with pytest.raises(FronteggApiError) as err:
        await fc.call("auth.verifyMFASMSForLoginV2", device_id,
                      {**body, "code": wrong_code(inbox.code_for(phone))})
    assert (err.value.status_code, err.value.error_code) == (400, "ER-MFA-INVALID-CODE")
    assert err.value.message == "Invalid or expired code"
    result = await fc.call("auth.verifyMFASMSForLoginV2", device_id,
                           {**body, "code": inbox.code_for(phone)})
    assert "recoveryCode" not in _logged_in(result, ids)


async def test_login_box_resend_too_soon_shows_the_wait(
        stack: Stack, ids: Ids, inbox: Inbox, fc: FronteggClient) -> None:
    await allow_sms(stack, ids)
    device_id, _ = await enroll_phone(stack, ids, inbox)
    start = await stack.start_session(ids)
    await fc.call("auth.preVerifyMFASMSForLogin", device_id, {"mfaToken": start["mfaToken"]})
    with pytest.raises(FronteggApiError) as err:
        await fc.call("auth.preVerifyMFASMSForLogin", device_id, {"mfaToken": start["mfaToken"]})
    assert (err.value.status_code, err.value.error_code) == (429, "ER-MFA-RESEND-COOLDOWN")
    assert err.value.message == "Please wait before asking for another code"


async def test_login_box_forced_sms_enrollment(stack: Stack, ids: Ids, inbox: Inbox,
                                               fc: FronteggClient) -> None:
    await stack.set_policy(ids, strategies=["SMS"])
    start = await stack.start_session(ids)
    assert start["mfaEnrolled"] is False and start["mfaStrategies"] == ["SMS"]
    phone = new_phone()
    pre = await fc.call("auth.preEnrollMFASMSForLogin",
                        {"mfaToken": start["mfaToken"], "phoneNumber": phone})
    assert pre == {"otcToken": pre["otcToken"], "phoneNumber": phone}
    result = await fc.call("auth.enrollMFASMSForLoginV2", {
        "mfaToken": start["mfaToken"], "otcToken": pre["otcToken"],
        "code": inbox.code_for(phone), "rememberDevice": False})
    user = _logged_in(result, ids)
    assert len(user["recoveryCode"]) == 23
    devices = await fc.call("auth.getMFADevices", access_token=user["accessToken"])
    # Frontegg's fields (ours beside them: name, createdAt, lastUsedAt, ignored by the client)
    assert [{k: p[k] for k in ("id", "phoneNumber")} for p in devices["phones"]] == [
        {"id": devices["phones"][0]["id"], "phoneNumber": f"+1******{phone[-4:]}"}]


async def test_login_box_bad_phone_number_shows_the_reason(
        stack: Stack, ids: Ids, inbox: Inbox, fc: FronteggClient) -> None:
    await stack.set_policy(ids, strategies=["SMS"])
    start = await stack.start_session(ids)
    with pytest.raises(FronteggApiError) as err:
        await fc.call("auth.preEnrollMFASMSForLogin",
                      {"mfaToken": start["mfaToken"], "phoneNumber": "555-0123"})
    assert (err.value.status_code, err.value.error_code) == (400, "ER-MFA-INVALID-PHONE")
    assert "country code" in err.value.message and inbox.messages == []


async def test_profile_page_enrolls_and_disables_a_phone(
        stack: Stack, ids: Ids, inbox: Inbox, fc: FronteggClient) -> None:
    await allow_sms(stack, ids)
    jwt, phone = stack.user_token(ids), new_phone()
    pre = await fc.call("auth.preEnrollMFASMS", {"phoneNumber": phone}, access_token=jwt)
    assert pre == {"otcToken": pre["otcToken"], "phoneNumber": phone}
    done = await fc.call("auth.enrollMFASMS", {"otcToken": pre["otcToken"],
                                               "code": inbox.code_for(phone)}, access_token=jwt)
    assert len(done["recoveryCode"]) == 23
    [device] = (await fc.call("auth.getMFADevices", access_token=jwt))["phones"]
    pre = await fc.call("auth.preDisableMFASMS", device["id"], access_token=jwt)
    assert pre == {"otcToken": pre["otcToken"], "phoneNumber": device["phoneNumber"]}
    with pytest.raises(FronteggApiError) as err:
        await fc.call("auth.disableMFASMS", device["id"],
                      {"otcToken": pre["otcToken"], "code": wrong_code(inbox.code_for(phone))},
                      access_token=jwt)
    assert err.value.status_code == 400
    await fc.call("auth.disableMFASMS", device["id"],
                  {"otcToken": pre["otcToken"], "code": inbox.code_for(phone)},
                  access_token=jwt)
    assert (await fc.call("auth.getMFADevices", access_token=jwt))["phones"] == []


async def test_profile_page_cannot_touch_another_users_phone(
        stack: Stack, ids: Ids, inbox: Inbox, fc: FronteggClient) -> None:
    await allow_sms(stack, ids)
    device_id, _ = await enroll_phone(stack, ids, inbox)
    with pytest.raises(FronteggApiError) as err:
        await fc.call("auth.preDisableMFASMS", device_id,
                      access_token=stack.user_token(ids.other()))
    assert (err.value.status_code, err.value.message) == (404, "Unknown SMS device")
