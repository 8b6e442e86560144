"""The profile page's SMS routes (users group, Bearer), through the gateway in both modes."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Ids, Stack
from tests.sms.conftest import DEVICES, USERS, allow_sms, begin_enroll, enroll_phone, new_phone
from tests.support.bursts import burst
from tests.support.codes import wrong_code
from tests.support.sms_gateway import Inbox


async def _verify(stack: Stack, step: str, otc: str, code: str, token: str, **kw: Any) -> Any:
    """Post a code to `{USERS}/{step}/verify` (step: "enroll" or "<device id>/disable")."""
    return await stack.post(f"{USERS}/{step}/verify", {"otcToken": otc, "code": code},
                            token=token, **kw)


async def _phones(stack: Stack, token: str) -> list[dict[str, Any]]:
    """The user's phones as the devices list shows them."""
    return list((await stack.get(DEVICES, token=token))["phones"])


async def test_enroll_sends_code_and_answers_full_number_to_its_owner(
        stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids)
    phone = new_phone()
    typed = f"{phone[:2]} ({phone[2:5]}) {phone[5:8]}-{phone[8:]}"
    pre = await stack.post(f"{USERS}/enroll", {"phoneNumber": typed},
                           token=stack.user_token(ids))
    assert set(pre) == {"otcToken", "phoneNumber"}
    assert pre["phoneNumber"] == phone
    [sms] = inbox.messages
    assert sms["to"] == phone and sms["purpose"] == "enroll"
    assert sms["body"].startswith(inbox.code_for(phone) + " is your MFA verification code")


async def test_enroll_verify_stores_phone_encrypted_and_gives_first_recovery_code(
        stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids)
    token, phone, otc = await begin_enroll(stack, ids)
    done = await _verify(stack, "enroll", otc, inbox.code_for(phone), token)
    assert len(done["recoveryCode"]) == 23
    [device] = await stack.stores.devices.list_for_user(ids.tenant, ids.user, "sms")
    assert phone not in (device.secret or "") and phone[-8:] not in str(device.data)
    assert device.data["phoneMasked"] == f"+1******{phone[-4:]}"
    phones = await _phones(stack, token)
    assert [{k: p[k] for k in ("id", "phoneNumber")} for p in phones] == [
        {"id": device.id, "phoneNumber": f"+1******{phone[-4:]}"}]


async def test_second_enrollment_gives_no_recovery_code(
        stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids)
    await enroll_phone(stack, ids, inbox)
    token, phone, otc = await begin_enroll(stack, ids)
    done = await _verify(stack, "enroll", otc, inbox.code_for(phone), token)
    assert done == {}


async def test_enroll_refuses_a_number_already_enrolled(
        stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids)
    _, phone = await enroll_phone(stack, ids, inbox)
    err = await stack.post(f"{USERS}/enroll", {"phoneNumber": phone},
                           token=stack.user_token(ids), expected_status=409)
    assert err["errorCode"] == "ER-MFA-PHONE-ENROLLED"
    assert len(inbox.messages) == 1


async def test_enroll_bad_numbers_are_400s_that_name_the_problem(
        stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids)
    token = stack.user_token(ids)
    cases = {"2015550123": "country code", "+1201": "too short", "banana": "not a phone",
             "+12010000000": "not a valid phone number", "+19005551234": "premium-rate",
             "": "phoneNumber", "+4930123456": "landline"}
    for raw, words in cases.items():
        err = await stack.post(f"{USERS}/enroll", {"phoneNumber": raw}, token=token,
                               expected_status=400)
        assert words in err["errors"][0], (raw, err)
    err = await stack.post(f"{USERS}/enroll", {"phoneNumber": 15551234}, token=token,
                           expected_status=400)
    assert err["errorCode"] == "ER-MFA-VALIDATION"
    assert inbox.messages == []


async def test_enroll_checks_the_tenant_phone_pattern(
        stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids, phoneNumberRegexp=r"^\+44")
    err = await stack.post(f"{USERS}/enroll", {"phoneNumber": new_phone()},
                           token=stack.user_token(ids), expected_status=400)
    assert err["errorCode"] == "ER-MFA-PHONE-PATTERN"
    assert "pattern" in err["errors"][0] and inbox.messages == []


async def test_enroll_is_refused_when_the_tenant_does_not_allow_sms(
        stack: Stack, ids: Ids, inbox: Inbox) -> None:
    err = await stack.post(f"{USERS}/enroll", {"phoneNumber": new_phone()},
                           token=stack.user_token(ids), expected_status=403)
    assert err["errorCode"] == "ER-MFA-SMS-NOT-ALLOWED" and inbox.messages == []


async def test_users_routes_need_a_bearer(stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids)
    for path, body in ((f"{USERS}/enroll", {"phoneNumber": new_phone()}),
                       (f"{USERS}/enroll/verify", {"otcToken": "x", "code": "123456"}),
                       (f"{USERS}/some-id/disable", None),
                       (f"{USERS}/some-id/disable/verify", {})):
        err = await stack.post(path, body, expected_status=401)
        assert err["errors"] and err["errorCode"].startswith("ER-")
    assert inbox.messages == []


async def test_enroll_verify_wrong_code_is_400_and_adds_nothing(
        stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids)
    token, phone, otc = await begin_enroll(stack, ids)
    err = await _verify(stack, "enroll", otc, wrong_code(inbox.code_for(phone)), token,
                        expected_status=400)
    assert err == {"errors": ["Invalid or expired code"], "errorCode": "ER-MFA-INVALID-CODE"}
    assert await stack.stores.devices.list_for_user(ids.tenant, ids.user) == []
    await _verify(stack, "enroll", otc, inbox.code_for(phone), token)


@pytest.mark.parametrize("sms_env", [{"MFA_LOCKOUT_DELAY_AFTER": "10"}])
async def test_enroll_code_dies_after_five_wrong_tries(
        stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids)
    token, phone, otc = await begin_enroll(stack, ids)
    code = inbox.code_for(phone)
    for _ in range(5):
        await _verify(stack, "enroll", otc, wrong_code(code), token, expected_status=400)
    await _verify(stack, "enroll", otc, code, token, expected_status=400)
    assert await stack.stores.devices.list_for_user(ids.tenant, ids.user) == []


async def test_enroll_code_expires_after_five_minutes(
        stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids)
    token, phone, otc = await begin_enroll(stack, ids)
    stack.clock.advance(301)
    await _verify(stack, "enroll", otc, inbox.code_for(phone), token, expected_status=400)


async def test_enroll_token_is_bound_to_the_user(stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids)
    _, phone, otc = await begin_enroll(stack, ids)
    other = ids.other()
    await _verify(stack, "enroll", otc, inbox.code_for(phone), stack.user_token(other),
                  expected_status=400)
    assert await stack.stores.devices.list_for_user(other.tenant, other.user) == []


async def test_parallel_enroll_verify_has_exactly_one_winner(
        stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids)
    token, phone, otc = await begin_enroll(stack, ids)
    body = {"otcToken": otc, "code": inbox.code_for(phone)}
    statuses = await burst(stack, [(f"{USERS}/enroll/verify", body)] * 8, token=token)
    # The losers count as failed tries, so the later ones may meet the lockout delay (429).
    assert statuses.count(200) == 1 and set(statuses) <= {200, 400, 429}
    assert len(await stack.stores.devices.list_for_user(ids.tenant, ids.user)) == 1


async def test_disable_sends_code_to_the_device_and_shows_it_masked(
        stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids)
    device_id, phone = await enroll_phone(stack, ids, inbox)
    pre = await stack.post(f"{USERS}/{device_id}/disable", token=stack.user_token(ids))
    assert pre["phoneNumber"] == f"+1******{phone[-4:]}" and pre["otcToken"]
    assert inbox.to(phone)[-1]["purpose"] == "disable"


async def test_disable_verify_with_code_removes_the_device(
        stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids)
    device_id, phone = await enroll_phone(stack, ids, inbox)
    token = stack.user_token(ids)
    pre = await stack.post(f"{USERS}/{device_id}/disable", token=token)
    done = await _verify(stack, f"{device_id}/disable", pre["otcToken"], inbox.code_for(phone),
                         token)
    assert done == {}
    assert (await _phones(stack, token)) == []
    actions = [e["action"] for e in await stack.stores.audit.for_user(ids.tenant, ids.user)]
    assert actions.count("disable") == 1  # (same frozen time: the order is not kept)


async def test_disable_verify_wrong_code_keeps_the_device(
        stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids)
    device_id, phone = await enroll_phone(stack, ids, inbox)
    token = stack.user_token(ids)
    pre = await stack.post(f"{USERS}/{device_id}/disable", token=token)
    await _verify(stack, f"{device_id}/disable", pre["otcToken"], wrong_code(inbox.code_for(phone)),
                  token, expected_status=400)
    assert len(await _phones(stack, token)) == 1


async def test_disable_token_of_one_device_fails_for_another(
        stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids)
    first, phone = await enroll_phone(stack, ids, inbox)
    second, _ = await enroll_phone(stack, ids, inbox)
    token = stack.user_token(ids)
    pre = await stack.post(f"{USERS}/{first}/disable", token=token)
    await _verify(stack, f"{second}/disable", pre["otcToken"], inbox.code_for(phone), token,
                  expected_status=400)
    assert len(await _phones(stack, token)) == 2


async def test_enroll_token_does_not_disable(stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids)
    device_id, _ = await enroll_phone(stack, ids, inbox)
    token, phone, otc = await begin_enroll(stack, ids)
    await _verify(stack, f"{device_id}/disable", otc, inbox.code_for(phone), token,
                  expected_status=400)
    assert len(await _phones(stack, token)) == 1


async def test_foreign_and_unknown_devices_are_the_same_404(
        stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids)
    device_id, _ = await enroll_phone(stack, ids, inbox)
    intruder = stack.user_token(ids.other())
    sent = len(inbox.messages)
    for dev in (device_id, "no-such-device"):
        err = await stack.post(f"{USERS}/{dev}/disable", token=intruder, expected_status=404)
        assert err == {"errors": ["Unknown SMS device"], "errorCode": "ER-MFA-DEVICE-NOT-FOUND"}
        await stack.post(f"{USERS}/{dev}/disable/verify", {}, token=intruder,
                         expected_status=404)
    assert len(inbox.messages) == sent
    assert len(await stack.stores.devices.list_for_user(ids.tenant, ids.user)) == 1


async def test_disable_without_code_needs_another_factor(
        stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids)
    only, _ = await enroll_phone(stack, ids, inbox)
    token = stack.user_token(ids)
    err = await stack.post(f"{USERS}/{only}/disable/verify", {}, token=token,
                           expected_status=400)
    assert err["errorCode"] == "ER-MFA-CODE-REQUIRED"
    other, _ = await enroll_phone(stack, ids, inbox)
    await stack.post(f"{USERS}/{only}/disable/verify", {}, token=token)
    phones = await _phones(stack, token)
    assert [p["id"] for p in phones] == [other]


async def test_disable_without_code_needs_an_mfa_session(
        stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids)
    first, _ = await enroll_phone(stack, ids, inbox)
    await enroll_phone(stack, ids, inbox)
    token, _ = stack.stores.tokens.issue(user_id=ids.user, tenant_id=ids.tenant,
                                         email=ids.email, amr=["pwd"], mfa=False)
    await stack.post(f"{USERS}/{first}/disable/verify", {}, token=token, expected_status=400)
    assert len(await stack.stores.devices.list_for_user(ids.tenant, ids.user)) == 2


async def test_disable_verify_needs_both_otc_token_and_code(
        stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids)
    device_id, _ = await enroll_phone(stack, ids, inbox)
    await enroll_phone(stack, ids, inbox)
    token = stack.user_token(ids)
    for body in ({"otcToken": "abc"}, {"code": "123456"}):
        err = await stack.post(f"{USERS}/{device_id}/disable/verify", body, token=token,
                               expected_status=400)
        assert err["errorCode"] == "ER-MFA-VALIDATION"
    assert len(await stack.stores.devices.list_for_user(ids.tenant, ids.user)) == 2


async def test_parallel_disable_verify_has_exactly_one_winner(
        stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids)
    device_id, phone = await enroll_phone(stack, ids, inbox)
    token = stack.user_token(ids)
    pre = await stack.post(f"{USERS}/{device_id}/disable", token=token)
    body = {"otcToken": pre["otcToken"], "code": inbox.code_for(phone)}
    statuses = await burst(stack, [(f"{USERS}/{device_id}/disable/verify", body)] * 6,
                           token=token)
    assert statuses.count(200) == 1 and set(statuses) <= {200, 400, 404, 429}
    removals = [e for e in await stack.stores.audit.for_user(ids.tenant, ids.user)
                if e["action"] == "disable"]
    assert len(removals) == 1


async def test_malformed_json_is_a_400_envelope(stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids)
    err = await stack.post(f"{USERS}/enroll", data=b"{nope", token=stack.user_token(ids),
                           expected_status=400)
    assert err["errorCode"] == "ER-MFA-MALFORMED-JSON" and inbox.messages == []
