"""Pumping and cost controls, provider failures and the message's language, through the
gateway in both modes."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import pytest
from prometheus_client import REGISTRY, generate_latest

from tests.conftest import PREFIX, Ids, Stack
from tests.sms.conftest import AUTH, USERS, allow_sms, enroll_phone, new_phone
from tests.support.sms_gateway import Inbox

NO_COOLDOWN = {"MFA_SMS_RESEND_COOLDOWN": "0", "MFA_SMS_USER_HOURLY_LIMIT": "100"}


async def _enroll_send(stack: Stack, ids: Ids, phone: str, *, expected_status: int = 200,
                       headers: dict[str, str] | None = None) -> Any:
    return await stack.post(f"{USERS}/enroll", {"phoneNumber": phone},
                            token=stack.user_token(ids), expected_status=expected_status,
                            headers=headers)


def _assert_retry_hint(err: dict[str, Any], code: str, at_most: int) -> None:
    assert err["errorCode"] == code and err["errors"][0]
    assert 1 <= err["context"]["retryAfter"] <= at_most


async def test_resend_within_cooldown_is_429_with_retry_hint_and_sends_nothing(
        stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids)
    phone = new_phone()
    await _enroll_send(stack, ids, phone)
    async with stack.http.post(stack.url + PREFIX + f"{USERS}/enroll",
                               json={"phoneNumber": phone}, headers={
                                   "Authorization": f"Bearer {stack.user_token(ids)}"}) as r:
        err = await r.json()
        assert r.status == 429 and 1 <= int(r.headers["Retry-After"]) <= 31
    _assert_retry_hint(err, "ER-MFA-RESEND-COOLDOWN", 31)
    assert len(inbox.to(phone)) == 1
    await _enroll_send(stack, ids, new_phone())  # the cooldown is per phone


async def test_login_resend_cooldown_is_per_device(stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids)
    device_id, phone = await enroll_phone(stack, ids, inbox)
    session = await stack.start_session(ids)
    await stack.post(f"{AUTH}/{device_id}", {"mfaToken": session["mfaToken"]})
    err = await stack.post(f"{AUTH}/{device_id}", {"mfaToken": session["mfaToken"]},
                           expected_status=429)
    _assert_retry_hint(err, "ER-MFA-RESEND-COOLDOWN", 31)
    await stack.post(f"{USERS}/{device_id}/disable", token=stack.user_token(ids),
                     expected_status=429)
    assert [m["purpose"] for m in inbox.to(phone)] == ["enroll", "verify"]


@pytest.mark.parametrize("sms_env", [{"MFA_SMS_RESEND_COOLDOWN": "1"}])
async def test_resend_is_allowed_again_after_the_cooldown(
        stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids)
    phone = new_phone()
    first = await _enroll_send(stack, ids, phone)
    await _enroll_send(stack, ids, phone, expected_status=429)
    stack.clock.advance(2)  # embedded: the frozen clock; split: Redis keeps real time
    await asyncio.sleep(1.1)
    second = await _enroll_send(stack, ids, phone)
    assert first["otcToken"] != second["otcToken"] and len(inbox.to(phone)) == 2


@pytest.mark.parametrize("sms_env", [{**NO_COOLDOWN, "MFA_SMS_USER_HOURLY_LIMIT": "3"}])
async def test_at_most_n_sends_per_user_per_hour(stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids)
    for _ in range(3):
        await _enroll_send(stack, ids, new_phone())
    err = await _enroll_send(stack, ids, new_phone(), expected_status=429)
    _assert_retry_hint(err, "ER-MFA-SEND-LIMIT", 3601)
    assert len(inbox.messages) == 3
    await _enroll_send(stack, ids.other(), new_phone())  # another user is not affected


@pytest.mark.parametrize("sms_env", [{**NO_COOLDOWN, "MFA_SMS_PHONE_HOURLY_LIMIT": "2"}])
async def test_at_most_n_sends_per_phone_per_hour_across_users(
        stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids)
    phone, other = new_phone(), ids.other()
    await _enroll_send(stack, ids, phone)
    await _enroll_send(stack, other, phone)
    err = await _enroll_send(stack, other, phone, expected_status=429)
    _assert_retry_hint(err, "ER-MFA-SEND-LIMIT", 3601)
    assert len(inbox.to(phone)) == 2


@pytest.mark.parametrize("sms_env", [{**NO_COOLDOWN, "MFA_SMS_TENANT_HOURLY_LIMIT": "3"}])
async def test_at_most_n_sends_per_tenant_per_hour(stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids)
    for user in (ids, ids.other(), ids.other()):
        await _enroll_send(stack, user, new_phone())
    err = await _enroll_send(stack, ids.other(), new_phone(), expected_status=429)
    _assert_retry_hint(err, "ER-MFA-SEND-LIMIT", 3601)
    assert len(inbox.messages) == 3
    elsewhere = Ids()
    await allow_sms(stack, elsewhere)
    await _enroll_send(stack, elsewhere, new_phone())


@pytest.mark.parametrize("sms_env", [{**NO_COOLDOWN, "MFA_SMS_IP_HOURLY_LIMIT": "2"}])
async def test_at_most_n_sends_per_client_ip_per_hour(
        stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids)
    ip = f"198.51.100.{secrets.randbelow(250) + 1}"
    for user in (ids, ids.other()):
        await _send_from(stack, user, ip)
    err = await _send_from(stack, ids.other(), ip, expected_status=429)
    _assert_retry_hint(err, "ER-MFA-SEND-LIMIT", 3601)
    assert len(inbox.messages) == 2
    if stack.mode == "split":  # only split mode can show the service another address
        await _send_from(stack, ids.other(), f"203.0.113.{secrets.randbelow(250) + 1}")
        # The gateway's own hop is the last X-Forwarded-For entry; a client's prefix is ignored.
        await _send_from(stack, ids.other(), f"10.9.8.7, {ip}", expected_status=429)


async def _send_from(stack: Stack, ids: Ids, ip: str, *, expected_status: int = 200) -> Any:
    """Embedded: through the gateway from 127.0.0.1 (a fresh store per test). Split: straight
    to the SMS service, with the X-Forwarded-For the gateway would set."""
    if stack.mode == "embedded":
        return await _enroll_send(stack, ids, new_phone(), expected_status=expected_status)
    async with stack.http.post(stack.upstreams["sms"] + f"{USERS}/enroll",
                               json={"phoneNumber": new_phone()}, headers={
                                   "Authorization": f"Bearer {stack.user_token(ids)}",
                                   "X-Forwarded-For": ip}) as r:
        assert r.status == expected_status, await r.text()
        return await r.json()


async def test_tenant_country_allow_list_refuses_other_countries(
        stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids, smsAllowedCountryCodes=["44", "49"])
    err = await _enroll_send(stack, ids, new_phone(), expected_status=400)
    assert err["errorCode"] == "ER-MFA-PHONE-COUNTRY" and "+1" in err["errors"][0]
    await _enroll_send(stack, ids, "+49 1512 3456789")
    assert [m["to"] for m in inbox.messages] == ["+4915123456789"]


async def test_country_allow_list_also_holds_for_enrolled_phones(
        stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids)
    device_id, _ = await enroll_phone(stack, ids, inbox)
    await allow_sms(stack, ids, smsAllowedCountryCodes=["44"])
    session = await stack.start_session(ids)
    err = await stack.post(f"{AUTH}/{device_id}", {"mfaToken": session["mfaToken"]},
                           expected_status=400)
    assert err["errorCode"] == "ER-MFA-PHONE-COUNTRY" and len(inbox.messages) == 1


@pytest.mark.parametrize("sms_env", [{"MFA_SMS_ALLOWED_COUNTRY_CODES": "44"}])
async def test_deployment_country_allow_list_applies_unless_the_tenant_sets_one(
        stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids)
    await _enroll_send(stack, ids, new_phone(), expected_status=400)
    await allow_sms(stack, ids, smsAllowedCountryCodes=["1"])
    await _enroll_send(stack, ids, new_phone())


async def test_provider_failure_is_502_and_lifts_the_cooldown(
        stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids)
    device_id, phone = await enroll_phone(stack, ids, inbox)
    session = await stack.start_session(ids)
    inbox.fail_status = 500
    err = await stack.post(f"{AUTH}/{device_id}", {"mfaToken": session["mfaToken"]},
                           expected_status=502)
    assert err == {"errors": ["The SMS code could not be sent, please try again"],
                   "errorCode": "ER-MFA-SMS-PROVIDER"}
    inbox.fail_status = None
    pre = await stack.post(f"{AUTH}/{device_id}", {"mfaToken": session["mfaToken"]})
    await stack.post(f"{AUTH}/{device_id}/verify", {
        "mfaToken": session["mfaToken"], "otcToken": pre["otcToken"],
        "code": inbox.code_for(phone)})
    outcomes = [e["outcome"] for e in await stack.stores.audit.for_user(ids.tenant, ids.user)
                if e["action"] == "send"]
    assert sorted(outcomes) == ["error", "success", "success"]


@pytest.mark.parametrize("sms_env", [{"MFA_SMS_PROVIDER_TIMEOUT": "0.3"}])
async def test_provider_timeout_is_502(stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids)
    inbox.delay = 1.0
    err = await _enroll_send(stack, ids, new_phone(), expected_status=502)
    assert err["errorCode"] == "ER-MFA-SMS-PROVIDER"


@pytest.mark.parametrize("sms_env", [{"MFA_SMS_WEBHOOK_URL": "http://127.0.0.1:9/nothing"}])
async def test_unreachable_provider_is_502(stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids)
    err = await _enroll_send(stack, ids, new_phone(), expected_status=502)
    assert err["errorCode"] == "ER-MFA-SMS-PROVIDER"


async def test_message_language_follows_accept_language(
        stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids)
    cases = {"de-CH, fr;q=0.5": "ist Ihr MFA-Bestätigungscode", "xx, fr;q=0.9": "est votre",
             "tlh": "is your MFA verification code"}
    for header, words in cases.items():
        phone = new_phone()
        await _enroll_send(stack, ids, phone, headers={"Accept-Language": header})
        [sms] = inbox.to(phone)
        assert words in sms["body"], sms


@pytest.mark.parametrize("sms_env", [{**NO_COOLDOWN, "MFA_SMS_TENANT_HOURLY_LIMIT": "77",
                                      "MFA_SMS_COUNTRY_BUDGETS": "44=20,*=5"}])
async def test_sends_are_counted_per_tenant_and_country_beside_the_budgets(
        stack: Stack, ids: Ids, inbox: Inbox) -> None:
    """The series the SMS budget alerts read (deploy/monitoring): sends by tenant and calling
    code, and the budgets from the settings; no number in any label."""
    def sent() -> float:
        return REGISTRY.get_sample_value(
            "mfa_sms_sends_total", {"tenant": ids.tenant, "country": "1",
                                    "outcome": "sent"}) or 0.0

    await allow_sms(stack, ids)
    before = sent()
    phones = [new_phone(), new_phone()]
    for phone in phones:
        await _enroll_send(stack, ids, phone)
    assert sent() - before == 2 and len(inbox.messages) == 2
    budget = {"tenant": ("tenant", ""), "44": ("country", "44"), "*": ("country", "*")}
    assert {k: REGISTRY.get_sample_value("mfa_sms_hourly_budget",
                                         {"scope": scope, "country": country})
            for k, (scope, country) in budget.items()} == {"tenant": 77, "44": 20, "*": 5}
    page = generate_latest().decode()
    assert not any(p[1:] in page for p in phones)


@pytest.mark.parametrize("sms_env", [NO_COOLDOWN])
async def test_strangers_enrolling_a_number_do_not_spend_its_owners_login_budget(
        stack: Stack, ids: Ids, inbox: Inbox) -> None:
    """The review's L7: user A of one tenant enrolls B's number as often as the per-number
    limit allows; B (another tenant) still gets a login code on the enrolled phone."""
    victim, attacker = ids, Ids()
    await allow_sms(stack, victim)
    await allow_sms(stack, attacker)
    device_id, phone = await enroll_phone(stack, victim, inbox)
    limit = 5  # MFA_SMS_PHONE_HOURLY_LIMIT's default
    for _ in range(limit - 1):  # the victim's own enrollment was the first of the bucket
        await _enroll_send(stack, attacker, phone)
    err = await _enroll_send(stack, attacker, phone, expected_status=429)
    assert err["errorCode"] == "ER-MFA-SEND-LIMIT"
    session = await stack.start_session(victim)
    await stack.post(f"{AUTH}/{device_id}", {"mfaToken": session["mfaToken"]})
    assert [m["purpose"] for m in inbox.to(phone)][-1] == "verify"
