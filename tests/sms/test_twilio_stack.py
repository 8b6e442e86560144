"""The whole stack configured for Twilio (MFA_SMS_PROVIDER=twilio), against the fake Twilio on
a real port: the codes users get arrive through Twilio's Messages API, and Twilio's failures
are 502 envelopes."""

from __future__ import annotations

import re

import pytest

from tests.conftest import Ids, Stack
from tests.sms.conftest import AUTH, DEVICES, USERS, allow_sms, new_phone
from tests.support.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FROM, FakeTwilio


@pytest.fixture
def extra_env(twilio: FakeTwilio, sms_env: dict[str, str]) -> dict[str, str]:
    """Twilio at the fake's address."""
    return {"MFA_SMS_PROVIDER": "twilio", "MFA_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "MFA_TWILIO_AUTH_TOKEN": AUTH_TOKEN, "MFA_TWILIO_FROM": FROM,
            "MFA_TWILIO_BASE_URL": twilio.base_url, "MFA_SMS_IP_HOURLY_LIMIT": "1000000",
            **sms_env}


def _code(twilio: FakeTwilio, phone: str) -> str:
    body = [m for m in twilio.messages if m["To"] == phone][-1]["Body"]
    match = re.match(r"(\d{6}) ", body)
    assert match, body
    return match.group(1)


async def test_enroll_and_login_with_codes_sent_through_twilio(
        stack: Stack, ids: Ids, twilio: FakeTwilio) -> None:
    await allow_sms(stack, ids)
    token, phone = stack.user_token(ids), new_phone()
    pre = await stack.post(f"{USERS}/enroll", {"phoneNumber": phone}, token=token)
    await stack.post(f"{USERS}/enroll/verify",
                     {"otcToken": pre["otcToken"], "code": _code(twilio, phone)}, token=token)
    [device] = (await stack.get(DEVICES, token=token))["phones"]
    session = await stack.start_session(ids)
    pre = await stack.post(f"{AUTH}/{device['id']}", {"mfaToken": session["mfaToken"]})
    body = await stack.post(f"{AUTH}/{device['id']}/verify", {
        "mfaToken": session["mfaToken"], "otcToken": pre["otcToken"],
        "code": _code(twilio, phone)})
    assert body["amr"] == ["mfa", "sms"]
    assert [m["From"] for m in twilio.messages] == [FROM, FROM]


async def test_twilio_server_error_is_a_502_envelope_and_resend_works(
        stack: Stack, ids: Ids, twilio: FakeTwilio) -> None:
    await allow_sms(stack, ids)
    token, phone = stack.user_token(ids), new_phone()
    twilio.fail_status = 500
    err = await stack.post(f"{USERS}/enroll", {"phoneNumber": phone}, token=token,
                           expected_status=502)
    assert err == {"errors": ["The SMS code could not be sent, please try again"],
                   "errorCode": "ER-MFA-SMS-PROVIDER"}
    twilio.fail_status = None
    await stack.post(f"{USERS}/enroll", {"phoneNumber": phone}, token=token)
    assert len(twilio.messages) == 1


@pytest.mark.parametrize("sms_env", [{"MFA_SMS_PROVIDER_TIMEOUT": "0.3"}])
async def test_twilio_timeout_is_a_502_envelope(
        stack: Stack, ids: Ids, twilio: FakeTwilio) -> None:
    await allow_sms(stack, ids)
    twilio.delay = 1.5
    err = await stack.post(f"{USERS}/enroll", {"phoneNumber": new_phone()},
                           token=stack.user_token(ids), expected_status=502)
    assert err["errorCode"] == "ER-MFA-SMS-PROVIDER"


@pytest.mark.parametrize("sms_env", [{"MFA_TWILIO_AUTH_TOKEN": "revoked-token"}])
async def test_twilio_refusing_credentials_is_a_502_envelope(
        stack: Stack, ids: Ids, twilio: FakeTwilio) -> None:
    await allow_sms(stack, ids)
    await stack.post(f"{USERS}/enroll", {"phoneNumber": new_phone()},
                     token=stack.user_token(ids), expected_status=502)
    assert twilio.messages == [] and len(twilio.requests) == 1
