"""The code's rules: five tries, five minutes, bad input changes nothing."""

from __future__ import annotations

import json

from tests.conftest import Ids, Stack
from tests.email.conftest import (
    SEND,
    VERIFY,
    code_in,
    email_session,
    login_code,
    request_code,
    verify,
)
from tests.support.codes import wrong_code
from tests.support.smtp_server import SmtpServer


async def test_five_wrong_codes_kill_the_challenge_and_burn_the_mfa_token(
        stack: Stack, ids: Ids, smtp: SmtpServer) -> None:
    token, otc, code = await login_code(stack, ids, smtp)
    for _ in range(5):
        body = await verify(stack, token, otc, wrong_code(code), expected_status=400)
        assert body["errorCode"] == "ER-MFA-INVALID-CODE"
    assert await stack.stores.challenges.peek(otc) is None
    await verify(stack, token, otc, code, expected_status=401)
    audit = await stack.stores.audit.for_user(ids.tenant, ids.user)
    assert sum(a["factor"] == "email" and a["action"] == "failure" for a in audit) == 5
    # The attempt on the burned mfaToken: a grouped refused row (docs/operators.md).
    [burned] = [a for a in audit if a["factor"] == "email" and a["action"] == "refused"]
    assert json.loads(burned["detail"])["reason"] == "burned"


async def test_the_right_code_after_four_wrong_ones_still_logs_in(
        stack: Stack, ids: Ids, smtp: SmtpServer) -> None:
    token, otc, code = await login_code(stack, ids, smtp)
    for _ in range(4):
        await verify(stack, token, otc, wrong_code(code), expected_status=400)
    assert (await verify(stack, token, otc, code))["mfaRequired"] is False


async def test_a_code_expires_after_five_minutes(stack: Stack, ids: Ids,
                                                 smtp: SmtpServer) -> None:
    token, otc, code = await login_code(stack, ids, smtp)
    stack.clock.advance(301)
    body = await verify(stack, token, otc, code, expected_status=400)
    assert body["errorCode"] == "ER-MFA-INVALID-CODE"


async def test_a_code_still_works_just_before_five_minutes(stack: Stack, ids: Ids,
                                                           smtp: SmtpServer) -> None:
    token, otc, code = await login_code(stack, ids, smtp)
    stack.clock.advance(299)
    await verify(stack, token, otc, code)


async def test_an_unknown_mfa_token_is_401_and_sends_nothing(stack: Stack,
                                                             smtp: SmtpServer) -> None:
    body = await stack.post(SEND, {"mfaToken": "not-a-token"}, expected_status=401)
    assert body["errorCode"] == "ER-MFA-INVALID-MFA-TOKEN"
    assert smtp.messages == []


async def test_malformed_requests_are_400_and_change_nothing(
        stack: Stack, ids: Ids, smtp: SmtpServer) -> None:
    token = await email_session(stack, ids)
    for body in (None, {}, {"mfaToken": 12}, {"mfaToken": ""}):
        r = await stack.post(SEND, body, expected_status=400)
        assert r["errorCode"] == "ER-MFA-VALIDATION"
    r = await stack.post(SEND, data=b"{not json", expected_status=400)
    assert r["errorCode"] == "ER-MFA-MALFORMED-JSON"
    assert smtp.messages == []
    otc = await request_code(stack, token)
    for bad in ({"code": "12a456"}, {"code": 123456}, {"code": ""}, {"otcToken": None},
                {"mfaToken": None}, {"rememberDevice": "maybe"}) * 2:
        body = {"mfaToken": token, "otcToken": otc, "code": "000000", **bad}
        r = await stack.post(VERIFY, body, expected_status=400)
        assert r["errorCode"] == "ER-MFA-VALIDATION", r
    await verify(stack, token, otc, code_in(smtp.messages[0]))  # twelve bad requests burned nothing


async def test_five_failures_delay_the_factor_for_the_users_next_session(
        stack: Stack, ids: Ids, smtp: SmtpServer) -> None:
    token, otc, code = await login_code(stack, ids, smtp)
    for _ in range(5):
        await verify(stack, token, otc, wrong_code(code), expected_status=400)
    fresh = (await stack.start_session(ids))["mfaToken"]
    body = await stack.post(SEND, {"mfaToken": fresh}, expected_status=429)
    assert body["errorCode"] == "ER-MFA-DELAY" and body["context"]["retryAfter"] >= 1
    assert len(smtp.messages) == 1
