"""A tenant may require a recent MFA before a logged-in user adds another factor (off by
default, so Frontegg's profile page works as it does against Frontegg)."""

from __future__ import annotations

import pytest

from tests.conftest import Ids, Stack

ENROLL_STARTS = ("/resources/users/v1/mfa/authenticator/enroll",
                 "/resources/users/v1/mfa/enroll", "/resources/users/v1/mfa/webauthn/enroll")


@pytest.fixture
def extra_env() -> dict[str, str]:
    """A WebAuthn relying party, so its enroll start can answer."""
    return {"MFA_WEBAUTHN_RP_ID": "example.test", "MFA_WEBAUTHN_ORIGINS":
            "https://app.example.test"}


async def test_off_by_default(stack: Stack, ids: Ids) -> None:
    stale = stack.user_token(ids, amr=["pwd"])
    for path in ENROLL_STARTS:
        await stack.post(path, token=stale)


async def test_a_password_only_or_old_session_must_step_up_first(stack: Stack, ids: Ids) -> None:
    await stack.set_policy(ids, enrollRequiresMfaWithin=300,
                           strategies=["AuthenticatorApp", "SMS", "WebAuthnCrossPlatform"])
    password_only = stack.user_token(ids, amr=["pwd"])
    old_mfa = stack.user_token(ids, auth_time=int(stack.clock.time()) - 301)
    for token in (password_only, old_mfa):
        for path in ENROLL_STARTS:
            res = await stack.post(path, token=token, expected_status=403)
            assert res["errorCode"] == "ER-MFA-RECENT-MFA-REQUIRED", (path, res)
        res = await stack.post("/resources/users/v1/mfa/sms/enroll",
                               {"phoneNumber": "+12015550123"}, token=token, expected_status=403)
        assert res["errorCode"] == "ER-MFA-RECENT-MFA-REQUIRED"
    fresh = stack.user_token(ids)
    for path in ENROLL_STARTS:
        await stack.post(path, token=fresh)
