"""Email-code login end to end: the mail a real SMTP server receives, and the login it gives."""

from __future__ import annotations

import asyncio

from services.email.schemas import EmailCodeSent
from shared.http.schemas import LoginResponse
from tests.conftest import PREFIX, Ids, Stack
from tests.email.conftest import (
    FROM,
    SEND,
    VERIFY,
    code_in,
    email_session,
    html_part,
    login_code,
    request_code,
    text_part,
    verify,
)
from tests.support.http import remember_token
from tests.support.smtp_server import SmtpServer


async def test_session_start_lists_the_email_when_the_policy_allows_emailcode(
        stack: Stack, ids: Ids) -> None:
    await stack.set_policy(ids, strategies=["EmailCode"])
    body = await stack.start_session(ids)
    assert body["mfaDevices"]["emails"] == [{"email": ids.email}]
    assert body["mfaStrategies"] == ["EmailCode"]
    assert body["mfaEnrolled"] is True


async def test_session_start_lists_no_email_when_the_policy_does_not_allow_it(
        stack: Stack, ids: Ids) -> None:
    body = await stack.start_session(ids)
    assert body["mfaDevices"]["emails"] == []
    assert "EmailCode" not in body["mfaStrategies"]


async def test_emailcode_is_refused_when_the_policy_does_not_allow_it(
        stack: Stack, ids: Ids, smtp: SmtpServer) -> None:
    token = (await stack.start_session(ids))["mfaToken"]
    body = await stack.post(SEND, {"mfaToken": token}, expected_status=403)
    assert body["errorCode"] == "ER-MFA-EMAIL-NOT-ALLOWED"
    assert smtp.messages == []


async def test_verify_is_refused_when_the_policy_stops_allowing_emailcode(
        stack: Stack, ids: Ids, smtp: SmtpServer) -> None:
    token, otc, code = await login_code(stack, ids, smtp)
    await stack.set_policy(ids, strategies=["AuthenticatorApp"])
    body = await verify(stack, token, otc, code, expected_status=403)
    assert body["errorCode"] == "ER-MFA-EMAIL-NOT-ALLOWED"


async def test_the_mail_carries_the_code_in_both_parts_and_nothing_secret(
        stack: Stack, ids: Ids, smtp: SmtpServer) -> None:
    token = await email_session(stack, ids)
    sent = await stack.post(SEND, {"mfaToken": token})
    assert EmailCodeSent().validate(sent) == {} and set(sent) == {"otcToken"}
    otc = sent["otcToken"]
    [mail] = smtp.messages
    msg = mail.message
    code = code_in(mail)
    assert mail.rcpt_tos == [ids.email] and mail.mail_from == "no-reply@mfa.test"
    assert msg["To"] == ids.email and msg["From"] == FROM
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert msg["Subject"] == f"{code} is your MFA verification code"
    assert code in html_part(msg) and "5 minutes" in text_part(msg)
    assert msg["Auto-Submitted"] == "auto-generated" and msg["Content-Language"] == "en"
    assert token not in mail.raw.decode() and otc not in mail.raw.decode()
    for part in (msg["Subject"], text_part(msg), html_part(msg)):
        assert ids.tenant not in part and ids.user not in part


async def test_login_with_the_emailed_code_returns_a_signed_mfa_token(
        stack: Stack, ids: Ids, smtp: SmtpServer) -> None:
    token, otc, code = await login_code(stack, ids, smtp)
    body = await verify(stack, token, otc, code)
    assert LoginResponse().validate(body) == {}
    assert body["mfaRequired"] is False and "recoveryCode" not in body
    claims = stack.stores.bearer.principal(f"Bearer {body['accessToken']}").claims
    assert claims["sub"] == ids.user and claims["tenantId"] == ids.tenant
    assert claims["email"] == ids.email and claims["amr"] == ["mfa", "otp"]
    audit = await stack.stores.audit.for_user(ids.tenant, ids.user)
    assert any(a["factor"] == "email" and a["action"] == "verify" for a in audit)


async def test_the_mfa_token_is_spent_after_a_login(stack: Stack, ids: Ids,
                                                    smtp: SmtpServer) -> None:
    token, otc, code = await login_code(stack, ids, smtp)
    await verify(stack, token, otc, code)
    await verify(stack, token, otc, code, expected_status=401)
    await stack.post(SEND, {"mfaToken": token}, expected_status=401)
    assert len(smtp.messages) == 1


async def test_remember_device_sets_the_cookie_when_the_policy_allows_it(
        stack: Stack, ids: Ids, smtp: SmtpServer) -> None:
    token = await email_session(stack, ids, allowRememberMyDevice=True)
    otc = await request_code(stack, token)
    remembered = await remember_token(stack, VERIFY, {
        "mfaToken": token, "otcToken": otc, "rememberDevice": True,
        "code": code_in(smtp.messages[0])})
    again = await stack.start_session(ids, rememberDeviceToken=remembered)
    assert again["mfaRequired"] is False and "accessToken" in again


async def test_the_mail_is_in_the_language_the_browser_asks_for(
        stack: Stack, ids: Ids, smtp: SmtpServer) -> None:
    token = await email_session(stack, ids)
    await request_code(stack, token, headers={"Accept-Language": "de-AT,de;q=0.9,en;q=0.5"})
    msg = smtp.messages[0].message
    assert msg["Content-Language"] == "de"
    assert "Bestätigungscode" in msg["Subject"] and "Minuten" in text_part(msg)
    assert '<html lang="de">' in html_part(msg)


async def test_an_unknown_language_falls_back_to_english(stack: Stack, ids: Ids,
                                                         smtp: SmtpServer) -> None:
    token = await email_session(stack, ids)
    await request_code(stack, token, headers={"Accept-Language": "tlh, x-klingon;q=0.8"})
    assert smtp.messages[0].message["Content-Language"] == "en"


async def test_a_challenge_is_bound_to_its_session(stack: Stack, ids: Ids,
                                                   smtp: SmtpServer) -> None:
    token, otc, code = await login_code(stack, ids, smtp)
    other_session = (await stack.start_session(ids))["mfaToken"]
    body = await verify(stack, other_session, otc, code, expected_status=400)
    assert body["errorCode"] == "ER-MFA-INVALID-CODE"
    await verify(stack, token, otc, code)  # untouched for its own session


async def test_another_users_session_cannot_use_the_code(stack: Stack, ids: Ids,
                                                         smtp: SmtpServer) -> None:
    token, otc, code = await login_code(stack, ids, smtp)
    other = ids.other()
    other_token = (await stack.start_session(other))["mfaToken"]
    await verify(stack, other_token, otc, code, expected_status=400)
    await verify(stack, token, otc, code)


async def _race(stack: Stack, body: dict[str, str], n: int) -> list[int]:
    url = stack.url + PREFIX + VERIFY

    async def one() -> int:
        async with stack.http.post(url, json=body) as r:
            return r.status

    return list(await asyncio.gather(*(one() for _ in range(n))))


async def test_parallel_verifications_of_one_code_have_exactly_one_winner(
        stack: Stack, ids: Ids, smtp: SmtpServer) -> None:
    # Nine on one mfaToken: at most five are reserved and evaluated (one wins, the others find
    # the code used), the rest are refused before any comparison: the token is out of tries.
    token, otc, code = await login_code(stack, ids, smtp)
    statuses = await _race(stack, {"mfaToken": token, "otcToken": otc, "code": code}, 9)
    assert statuses.count(200) == 1, statuses
    assert statuses.count(400) <= 4 and statuses.count(401) >= 4, statuses
    audit = await stack.stores.audit.for_user(ids.tenant, ids.user)
    refused = [a for a in audit if a["factor"] == "email" and a["action"] == "failure"]
    assert len(refused) == statuses.count(400)
