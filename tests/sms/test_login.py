"""The mid-login SMS routes (auth group, mfaToken), through the gateway in both modes."""

from __future__ import annotations

from typing import Any

import jwt
import pytest

from shared.http.schemas import LoginResponse
from tests.conftest import PREFIX, Ids, Stack
from tests.sms.conftest import AUTH, allow_sms, enroll_phone, new_phone
from tests.support.bursts import burst
from tests.support.codes import wrong_code
from tests.support.sms_gateway import Inbox


async def _login_code(stack: Stack, ids: Ids, inbox: Inbox) -> tuple[dict[str, Any], str, str]:
    """An enrolled user's session start and login code: (session, device id, code's otcToken)."""
    device_id, phone = await enroll_phone(stack, ids, inbox)
    session = await stack.start_session(ids)
    pre = await stack.post(f"{AUTH}/{device_id}", {"mfaToken": session["mfaToken"]})
    session["code"] = inbox.code_for(phone)
    return session, device_id, pre["otcToken"]


async def _verify(stack: Stack, device_id: str, mfa_token: str, otc: str, code: str,
                  **kw: Any) -> Any:
    """Post a login code to the device's verify route."""
    return await stack.post(f"{AUTH}/{device_id}/verify",
                            {"mfaToken": mfa_token, "otcToken": otc, "code": code}, **kw)


# --- login with an enrolled phone ----------------------------------------------------------

async def test_login_code_goes_to_the_enrolled_phone_shown_masked(
        stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids)
    device_id, phone = await enroll_phone(stack, ids, inbox)
    session = await stack.start_session(ids)
    assert session["mfaDevices"]["phones"] == [{"id": device_id,
                                                "phoneNumber": f"+1******{phone[-4:]}"}]
    pre = await stack.post(f"{AUTH}/{device_id}", {"mfaToken": session["mfaToken"]})
    assert pre["phoneNumber"] == f"+1******{phone[-4:]}" and pre["otcToken"]
    assert inbox.to(phone)[-1]["purpose"] == "verify"


async def test_login_verify_answers_a_login_response_with_sms_amr(
        stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids)
    session, device_id, otc = await _login_code(stack, ids, inbox)
    body = await _verify(stack, device_id, session["mfaToken"], otc, session["code"])
    assert LoginResponse().validate(body) == {}
    claims = jwt.decode(body["accessToken"], options={"verify_signature": False})
    assert (claims["sub"], claims["tenantId"]) == (ids.user, ids.tenant)
    assert body["amr"] == ["mfa", "sms"] and "recoveryCode" not in body
    assert "rememberDeviceToken" not in body


async def test_login_verify_remembers_the_device_when_the_policy_allows(
        stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids, allowRememberMyDevice=True)
    session, device_id, otc = await _login_code(stack, ids, inbox)
    async with stack.http.post(stack.url + PREFIX + f"{AUTH}/{device_id}/verify", json={
            "mfaToken": session["mfaToken"], "otcToken": otc, "code": session["code"],
            "rememberDevice": True}) as r:
        body = await r.json()
        assert r.status == 200 and "rememberDeviceToken" not in body
        remembered = r.cookies[stack.settings.remember_cookie].value
    again = await stack.start_session(ids, rememberDeviceToken=remembered)
    assert again["mfaRequired"] is False


async def test_login_verify_wrong_code_counts_against_the_mfa_token(
        stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids)
    session, device_id, otc = await _login_code(stack, ids, inbox)
    bad = {"mfaToken": session["mfaToken"], "otcToken": otc, "code": wrong_code(session["code"])}
    for _ in range(4):
        err = await stack.post(f"{AUTH}/{device_id}/verify", bad, expected_status=400)
        assert err["errorCode"] == "ER-MFA-INVALID-CODE"
    await stack.post(f"{AUTH}/{device_id}/verify", bad, expected_status=400)
    # Five failures burned the mfaToken: even the right code is refused now.
    err = await stack.post(f"{AUTH}/{device_id}/verify", {**bad, "code": session["code"]},
                           expected_status=401)
    assert err["errorCode"] == "ER-MFA-INVALID-MFA-TOKEN"


async def test_login_mfa_token_is_single_use(stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids)
    session, device_id, otc = await _login_code(stack, ids, inbox)
    body = {"mfaToken": session["mfaToken"], "otcToken": otc, "code": session["code"]}
    await stack.post(f"{AUTH}/{device_id}/verify", body)
    await stack.post(f"{AUTH}/{device_id}/verify", body, expected_status=401)
    await stack.post(f"{AUTH}/{device_id}", {"mfaToken": session["mfaToken"]},
                     expected_status=401)


async def test_parallel_login_verify_has_exactly_one_winner(
        stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids)
    session, device_id, otc = await _login_code(stack, ids, inbox)
    body = {"mfaToken": session["mfaToken"], "otcToken": otc, "code": session["code"]}
    statuses = await burst(stack, [(f"{AUTH}/{device_id}/verify", body)] * 8)
    assert statuses.count(200) == 1 and set(statuses) <= {200, 400, 401, 429}
    verified = [e for e in await stack.stores.audit.for_user(ids.tenant, ids.user)
                if e["action"] == "verify"]
    assert len(verified) == 1


async def test_login_code_of_one_device_fails_for_another(
        stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids)
    session, _, otc = await _login_code(stack, ids, inbox)
    other_device, _ = await enroll_phone(stack, ids, inbox)
    await _verify(stack, other_device, session["mfaToken"], otc, session["code"],
                  expected_status=400)


async def test_login_code_is_bound_to_its_mfa_session(
        stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids)
    session, device_id, otc = await _login_code(stack, ids, inbox)
    second = await stack.start_session(ids)
    await _verify(stack, device_id, second["mfaToken"], otc, session["code"],
                  expected_status=400)


async def test_disable_code_does_not_log_in(stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids)
    device_id, phone = await enroll_phone(stack, ids, inbox)
    pre = await stack.post(f"/resources/users/v1/mfa/sms/{device_id}/disable",
                           token=stack.user_token(ids))
    session = await stack.start_session(ids)
    await _verify(stack, device_id, session["mfaToken"], pre["otcToken"], inbox.code_for(phone),
                  expected_status=400)


async def test_login_code_expires_after_five_minutes(
        stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids)
    session, device_id, otc = await _login_code(stack, ids, inbox)
    stack.clock.advance(301)
    await _verify(stack, device_id, session["mfaToken"], otc, session["code"],
                  expected_status=400)


async def test_login_send_to_foreign_or_unknown_device_is_404_and_sends_nothing(
        stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids)
    victim_device, _ = await enroll_phone(stack, ids, inbox)
    attacker = ids.other()
    await enroll_phone(stack, attacker, inbox)
    session = await stack.start_session(attacker)
    sent = len(inbox.messages)
    for dev in (victim_device, "no-such-device"):
        err = await stack.post(f"{AUTH}/{dev}", {"mfaToken": session["mfaToken"]},
                               expected_status=404)
        assert err["errorCode"] == "ER-MFA-DEVICE-NOT-FOUND"
    assert len(inbox.messages) == sent


async def test_login_routes_refuse_bad_mfa_tokens(stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids)
    device_id, _ = await enroll_phone(stack, ids, inbox)
    sent = len(inbox.messages)
    for path, body in ((f"{AUTH}/{device_id}", {}),
                       (f"{AUTH}/enroll", {"phoneNumber": new_phone()}),
                       (f"{AUTH}/{device_id}/verify", {"otcToken": "x", "code": "1"})):
        err = await stack.post(path, body, expected_status=400)
        assert err["errors"] == ["mfaToken: Missing data for required field."]
        err = await stack.post(path, {**body, "mfaToken": "forged"}, expected_status=401)
        assert err["errorCode"] == "ER-MFA-INVALID-MFA-TOKEN"
    assert len(inbox.messages) == sent


async def test_login_verify_refuses_a_removed_device(
        stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids)
    session, device_id, otc = await _login_code(stack, ids, inbox)
    await stack.stores.devices.delete(ids.tenant, ids.user, device_id)
    await _verify(stack, device_id, session["mfaToken"], otc, session["code"],
                  expected_status=400)


# --- forced enrollment mid-login -----------------------------------------------------------

async def test_forced_enrollment_completes_login_with_recovery_code(
        stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await stack.set_policy(ids, strategies=["SMS"])
    session = await stack.start_session(ids)
    assert session["mfaEnrolled"] is False and session["mfaStrategies"] == ["SMS"]
    phone = new_phone()
    pre = await stack.post(f"{AUTH}/enroll", {"mfaToken": session["mfaToken"],
                                              "phoneNumber": phone})
    assert pre["phoneNumber"] == phone
    body = await stack.post(f"{AUTH}/enroll/verify", {
        "mfaToken": session["mfaToken"], "otcToken": pre["otcToken"],
        "code": inbox.code_for(phone), "rememberDevice": False})
    assert LoginResponse().validate(body) == {}
    assert body["amr"] == ["mfa", "sms"] and len(body["recoveryCode"]) == 23
    [device] = await stack.stores.devices.list_for_user(ids.tenant, ids.user, "sms")
    assert device.data["phoneMasked"] == f"+1******{phone[-4:]}"


async def test_forced_enrollment_keeps_the_recovery_code_shown_at_session_start(
        stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids)
    session = await stack.start_session(ids)
    phone = new_phone()
    pre = await stack.post(f"{AUTH}/enroll", {"mfaToken": session["mfaToken"],
                                              "phoneNumber": phone})
    body = await stack.post(f"{AUTH}/enroll/verify", {
        "mfaToken": session["mfaToken"], "otcToken": pre["otcToken"],
        "code": inbox.code_for(phone)})
    assert body["recoveryCode"] == session["recoveryCode"]


async def test_forced_enrollment_is_refused_for_an_enrolled_user(
        stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids)
    await enroll_phone(stack, ids, inbox)
    session = await stack.start_session(ids)
    sent = len(inbox.messages)
    err = await stack.post(f"{AUTH}/enroll", {"mfaToken": session["mfaToken"],
                                              "phoneNumber": new_phone()}, expected_status=403)
    assert err["errorCode"] == "ER-MFA-ALREADY-ENROLLED" and len(inbox.messages) == sent


async def test_forced_enrollment_needs_sms_in_the_tenant_policy(
        stack: Stack, ids: Ids, inbox: Inbox) -> None:
    session = await stack.start_session(ids)
    err = await stack.post(f"{AUTH}/enroll", {"mfaToken": session["mfaToken"],
                                              "phoneNumber": new_phone()}, expected_status=403)
    assert err["errorCode"] == "ER-MFA-SMS-NOT-ALLOWED" and inbox.messages == []


async def test_forced_enrollment_bad_number_is_400(stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids)
    session = await stack.start_session(ids)
    err = await stack.post(f"{AUTH}/enroll", {"mfaToken": session["mfaToken"],
                                              "phoneNumber": "+1 555"}, expected_status=400)
    assert err["errorCode"] == "ER-MFA-INVALID-PHONE" and inbox.messages == []


async def test_forced_enrollment_token_is_bound_to_its_session(
        stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids)
    first, second = await stack.start_session(ids), await stack.start_session(ids)
    phone = new_phone()
    pre = await stack.post(f"{AUTH}/enroll", {"mfaToken": first["mfaToken"],
                                              "phoneNumber": phone})
    await stack.post(f"{AUTH}/enroll/verify", {
        "mfaToken": second["mfaToken"], "otcToken": pre["otcToken"],
        "code": inbox.code_for(phone)}, expected_status=400)
    assert await stack.stores.devices.list_for_user(ids.tenant, ids.user) == []


async def test_profile_enroll_token_does_not_finish_forced_enrollment(
        stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids)
    session, phone = await stack.start_session(ids), new_phone()
    pre = await stack.post("/resources/users/v1/mfa/sms/enroll", {"phoneNumber": phone},
                           token=stack.user_token(ids))
    await stack.post(f"{AUTH}/enroll/verify", {
        "mfaToken": session["mfaToken"], "otcToken": pre["otcToken"],
        "code": inbox.code_for(phone)}, expected_status=400)


@pytest.mark.parametrize("sms_env", [{"MFA_SMS_RESEND_COOLDOWN": "0"}])
async def test_parallel_forced_enrollments_add_exactly_one_device(
        stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids)
    session = await stack.start_session(ids)
    bodies = []
    for phone in (new_phone(), new_phone(), new_phone()):
        pre = await stack.post(f"{AUTH}/enroll", {"mfaToken": session["mfaToken"],
                                                  "phoneNumber": phone})
        bodies.append({"mfaToken": session["mfaToken"], "otcToken": pre["otcToken"],
                       "code": inbox.code_for(phone)})
    statuses = await burst(stack, [(f"{AUTH}/enroll/verify", b) for b in bodies])
    assert sorted(statuses) == [200, 401, 401]
    assert len(await stack.stores.devices.list_for_user(ids.tenant, ids.user)) == 1
