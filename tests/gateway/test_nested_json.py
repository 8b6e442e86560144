"""Deeply nested JSON is a 400 ER-MFA-MALFORMED-JSON envelope on every service's routes, and
nothing is logged at ERROR (no stack trace)."""

from __future__ import annotations

import logging

import pytest

from tests.conftest import PREFIX, Ids, Stack

ROUTES = (
    "/resources/auth/v1/user/mfa/recover",                     # session
    "/resources/configurations/v1/mfa-policy",                 # operators (admin bearer)
    "/resources/auth/v1/user/step-up/generate",                # session (bearer)
    "/resources/auth/v1/user/mfa/verify",                      # totp
    "/resources/users/v1/mfa/authenticator/enroll/verify",     # totp (bearer)
    "/resources/auth/v1/user/mfa/sms/enroll",                  # sms
    "/resources/users/v1/mfa/sms/enroll",                      # sms (bearer)
    "/resources/auth/v1/user/mfa/emailcode",                   # email
    "/resources/auth/v1/user/mfa/emailcode/verify",            # email
    "/resources/auth/v1/user/mfa/webauthn/enroll/verify",      # webauthn
    "/resources/users/v1/mfa/webauthn/enroll/verify",          # webauthn (bearer)
)
BODIES = {
    "brackets": "[" * 60_000,
    "objects": '{"a":' * 10_000 + "1" + "}" * 10_000,
    "closed-arrays": "[" * 5_000 + "]" * 5_000,
    "deep-in-a-field": '{"mfaToken": "x", "value": ' + "[" * 200 + "]" * 200 + "}",
    # Not JSON whitespace (Python's strip would have made it an empty body; found by the fuzz).
    "vertical-tab": "\x0b",
    "form-feed": " \x0c ",
}


@pytest.mark.parametrize("body", BODIES.values(), ids=BODIES.keys())
async def test_deeply_nested_json_is_a_400_envelope_without_a_trace(
        stack: Stack, ids: Ids, body: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    caplog.clear()  # start-up warnings of the stack are not this test's
    token = stack.user_token(ids, roles=["Admin"])
    for route in ROUTES:
        async with stack.http.post(stack.url + PREFIX + route, data=body, headers={
                "Content-Type": "application/json", "Authorization": f"Bearer {token}"}) as r:
            answer = await r.json(content_type=None)
            assert r.status == 400, (route, r.status, answer)
        assert answer["errorCode"] == "ER-MFA-MALFORMED-JSON", (route, answer)
        assert isinstance(answer["errors"], list) and answer["errors"], (route, answer)
    loud = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert loud == [], [(r.name, r.getMessage()) for r in loud]
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"


async def test_ordinary_nesting_still_parses(stack: Stack, ids: Ids) -> None:
    body = {"mfaToken": "not-a-token", "value": "123456", "extra": [[[[{"a": [1]}]]]]}
    err = await stack.post("/resources/auth/v1/user/mfa/verify", body, expected_status=401)
    assert err["errorCode"] != "ER-MFA-MALFORMED-JSON"
