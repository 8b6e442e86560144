"""The tenant's phoneNumberRegexp runs on RE2 (linear time): a catastrophic-backtracking
pattern answers at once, and what RE2 cannot compile is refused when the policy is saved."""

from __future__ import annotations

import re2

from shared.mfa.phones import InvalidPhone, check_pattern, parse_phone
from shared.mfa.policies import tenant_pattern
from tests.conftest import Ids, Stack
from tests.sms.conftest import USERS, allow_sms, new_phone
from tests.support.sms_gateway import Inbox

# Nested stars over the same digits: Python's backtracking `re` takes ~22 s for 8 digits and
# doubles with each further digit before it answers "no match".
CATASTROPHIC = r"^\+(\d*\d*\d*\d*\d*\d*\d*)*x$"
POLICY = "/resources/configurations/v1/mfa-policy"


def test_tenant_patterns_are_compiled_by_re2() -> None:
    compiled = tenant_pattern(CATASTROPHIC)
    assert type(compiled).__module__.startswith("re2")
    assert isinstance(compiled, type(re2.compile("x")))


def test_the_catastrophic_pattern_returns_a_result_on_long_input() -> None:
    assert tenant_pattern(CATASTROPHIC).search("+" + "1" * 5000) is None
    assert tenant_pattern(CATASTROPHIC).search("+" + "1" * 5000 + "x") is not None


def test_check_pattern_refuses_at_once_under_the_catastrophic_pattern() -> None:
    phone = parse_phone("+12015550123")
    try:
        check_pattern(phone, CATASTROPHIC)
    except InvalidPhone as e:
        assert e.code == "ER-MFA-PHONE-PATTERN"
    else:
        raise AssertionError("the number matched a pattern that needs a trailing x")
    check_pattern(phone, r"^\+1\d{10}$")  # ordinary patterns still match


def test_a_stored_pattern_re2_cannot_run_matches_nothing() -> None:
    phone = parse_phone("+12015550123")
    try:
        check_pattern(phone, r"^\+(\d)\1")
    except InvalidPhone as e:
        assert e.code == "ER-MFA-PHONE-PATTERN"
    else:
        raise AssertionError("a back-reference pattern was run outside RE2")


async def test_enroll_under_the_catastrophic_pattern_is_refused(
        stack: Stack, ids: Ids, inbox: Inbox) -> None:
    await allow_sms(stack, ids, phoneNumberRegexp=CATASTROPHIC)
    err = await stack.post(f"{USERS}/enroll", {"phoneNumber": new_phone()},
                           token=stack.user_token(ids), expected_status=400)
    assert err["errorCode"] == "ER-MFA-PHONE-PATTERN" and inbox.messages == []


async def test_patterns_re2_cannot_compile_are_refused_at_save(stack: Stack, ids: Ids) -> None:
    admin = stack.user_token(ids, roles=["Admin"])
    for pattern in (r"^\+(\d)\1", r"^\+(?=44)\d+$", r"^\+\d{2000}$"):
        err = await stack.post(POLICY, {"phoneNumberRegexp": pattern}, token=admin,
                               expected_status=400)
        assert err["errorCode"] == "ER-MFA-VALIDATION", (pattern, err)
        assert "phoneNumberRegexp" in err["errors"][0]
    saved = await stack.post(POLICY, {"phoneNumberRegexp": r"^\+44\d{10}$"}, token=admin)
    assert saved["phoneNumberRegexp"] == r"^\+44\d{10}$"
