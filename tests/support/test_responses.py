"""The response checker Stack.call applies: it finds the right operation and refuses bodies
that miss, mistype or add fields, and errors that are not the envelope."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.openapi import build_spec
from tests.conftest import PREFIX
from tests.support.responses import ResponseChecker

SMS = "/resources/auth/v1/user/mfa/sms"
VERIFY = "/resources/auth/v1/user/mfa/verify"
STEP_UP = "/resources/auth/v1/user/step-up/generate"
DEVICES = {"webauthn": [], "phones": [], "authenticators": [], "emails": []}
LOGIN = {"mfaRequired": False, "accessToken": "a.b.c", "refreshToken": "", "exp": 2,
         "expiresIn": 1, "expires": "1970-01-01T00:00:02+00:00", "userId": "u",
         "userEmail": "u@example.test", "tenantId": "t", "amr": ["mfa", "otp"], "auth_time": 1}


@pytest.fixture(scope="module")
def checker() -> ResponseChecker:
    """The checker over the document the gateway serves."""
    return ResponseChecker(build_spec(PREFIX), PREFIX)


def test_literal_routes_win_over_templated_ones(checker: ResponseChecker) -> None:
    enroll = checker.operation("POST", f"{PREFIX}{SMS}/enroll")
    send = checker.operation("POST", f"{SMS}/dev-1")
    assert enroll and enroll["operationId"] == "sms.login_enroll"
    assert send and send["operationId"] == "sms.login_send"
    assert checker.operation("GET", f"{SMS}/enroll") is None


def test_a_login_and_an_mfa_step_both_match_a_login_response(checker: ResponseChecker) -> None:
    ok = "application/json"
    assert checker.problems("POST", VERIFY, 200, ok, LOGIN) == []
    step = {"mfaToken": "m", "mfaEnrolled": True, "mfaDevices": DEVICES}
    assert checker.problems("POST", STEP_UP, 200, ok, step) == []


@pytest.mark.parametrize("body", [
    {k: v for k, v in LOGIN.items() if k != "accessToken"},
    {**LOGIN, "exp": "2"},
    {**LOGIN, "surprise": 1},
    {**LOGIN, "mfaToken": "m"},
    {"mfaToken": "m", "mfaEnrolled": True, "mfaDevices": {**DEVICES, "phones": None}},
    {"mfaToken": "m", "mfaEnrolled": True},
], ids=["missing-field", "mistyped", "undeclared", "both-forms", "bad-nested", "half-step"])
def test_bodies_that_differ_from_the_declaration_are_reported(
        checker: ResponseChecker, body: dict[str, Any]) -> None:
    assert checker.problems("POST", VERIFY, 200, "application/json", body)


def test_errors_must_be_the_envelope(checker: ResponseChecker) -> None:
    good = {"errors": ["Invalid code"], "errorCode": "ER-MFA-INVALID-CODE"}
    assert checker.problems("POST", VERIFY, 400, "application/json", good) == []
    for bad in ({"error": "nope"}, {"errors": [], "errorCode": "ER-X"},
                {"errors": ["x"], "errorCode": "oops"}, {**good, "stack": "trace"}):
        assert checker.problems("POST", VERIFY, 400, "application/json", bad), bad
    assert checker.problems("POST", VERIFY, 500, "text/plain", "Internal Server Error")


def test_undeclared_success_statuses_are_reported(checker: ResponseChecker) -> None:
    assert checker.problems("POST", VERIFY, 201, "application/json", LOGIN)
