"""Mid-login WebAuthn: forced enrollment and verification through the gateway, both modes."""

from __future__ import annotations

import re

import jwt
import pytest

from tests.conftest import Ids, Stack
from tests.support.http import remember_token
from tests.support.soft_authenticator import SoftAuthenticator, b64url_decode
from tests.support.webauthn_flows import (
    AUTH,
    OTHER_ORIGIN,
    RP_ID,
    enroll_at_login,
    key,
    pre_verify,
    sign_count,
    verify_body,
)

B64URL = re.compile(r"^[A-Za-z0-9_-]+$")


def _client_data(assertion: dict[str, object]) -> str:
    response = assertion["response"]
    assert isinstance(response, dict)
    return b64url_decode(response["clientDataJSON"]).decode()


async def test_pre_enroll_answers_options_frontegg_can_decode(stack: Stack, ids: Ids) -> None:
    s = await stack.start_session(ids)
    pre = await stack.post(f"{AUTH}/enroll", {"mfaToken": s["mfaToken"]})
    o = pre["options"]
    assert pre["webauthnToken"] and set(pre) == {"webauthnToken", "options"}
    assert B64URL.match(o["challenge"]) and len(o["challenge"]) == 86  # 64 bytes, no padding
    assert B64URL.match(o["user"]["id"])
    assert o["rp"] == {"id": RP_ID, "name": "Example"}
    assert o["user"]["name"] == ids.email
    assert {p["alg"] for p in o["pubKeyCredParams"]} >= {-7, -8}
    assert o["attestation"] == "none"
    assert o["authenticatorSelection"]["userVerification"] == "preferred"
    assert o["excludeCredentials"] == []
    assert o["timeout"] == 60000


@pytest.mark.parametrize(("alg", "attachment"), [("ES256", "cross-platform"),
                                                 ("EdDSA", "platform")])
async def test_forced_enrollment_logs_in_and_keeps_the_shown_recovery_code(
        stack: Stack, ids: Ids, alg: str, attachment: str) -> None:
    e = await enroll_at_login(stack, ids, key(alg, attachment))  # type: ignore[arg-type]
    assert e.login["recoveryCode"] == e.session["recoveryCode"]
    claims = jwt.decode(e.login["accessToken"], options={"verify_signature": False})
    assert claims["sub"] == ids.user and "hwk" in claims["amr"]
    d = await stack.stores.devices.get(ids.tenant, ids.user, e.device_id)
    assert d is not None and d.kind == "webauthn"
    assert d.lookup == e.key.credential_ids[0]
    assert d.data["deviceType"] == ("Platform" if attachment == "platform" else "CrossPlatform")
    assert d.secret and d.sign_count == 0
    assert d.data["alg"] == e.key.cose_alg  # ES256 -7, EdDSA -8: both verified end to end


@pytest.mark.parametrize("alg", ["ES256", "EdDSA"])
async def test_verify_logs_in_and_advances_the_counter(stack: Stack, ids: Ids, alg: str) -> None:
    e = await enroll_at_login(stack, ids, key(alg, sign_count_start=7))  # type: ignore[arg-type]
    for expected in (8, 9):
        token, pre = await pre_verify(stack, e)
        o = pre["options"]
        assert set(o) >= {"challenge", "allowCredentials", "rpId", "timeout", "userVerification"}
        assert o["allowCredentials"][0]["id"] == e.key.credential_ids[0] and o["rpId"] == RP_ID
        body = await stack.post(f"{AUTH}/{e.device_id}/verify",
                                verify_body(token, pre, e.key.get(o)))
        assert body["accessToken"] and "recoveryCode" not in body
        assert await sign_count(stack, e) == expected


async def test_every_configured_origin_is_accepted(stack: Stack, ids: Ids) -> None:
    e = await enroll_at_login(stack, ids, SoftAuthenticator(origin=OTHER_ORIGIN, rp_id=RP_ID))
    token, pre = await pre_verify(stack, e)
    assertion = e.key.get(pre["options"])
    assert f'"origin":"{OTHER_ORIGIN}"' in _client_data(assertion)
    await stack.post(f"{AUTH}/{e.device_id}/verify", verify_body(token, pre, assertion))


async def test_synced_passkey_with_zero_counter_verifies_again_and_again(
        stack: Stack, ids: Ids) -> None:
    e = await enroll_at_login(stack, ids)
    for _ in range(2):
        token, pre = await pre_verify(stack, e)
        e.key.credential(e.key.credential_ids[0]).sign_count = -1  # get() adds 1: reports 0
        await stack.post(f"{AUTH}/{e.device_id}/verify",
                         verify_body(token, pre, e.key.get(pre["options"])))
    assert await sign_count(stack, e) == 0


async def test_enrolled_user_cannot_enroll_again_with_only_the_mfa_token(
        stack: Stack, ids: Ids) -> None:
    e = await enroll_at_login(stack, ids)
    s = await stack.start_session(e.ids)
    body = await stack.post(f"{AUTH}/enroll", {"mfaToken": s["mfaToken"]},
                            expected_status=403)
    assert body["errorCode"] == "ER-MFA-ALREADY-ENROLLED"


async def test_remember_device_sets_the_cookie_when_the_policy_allows(
        stack: Stack, ids: Ids) -> None:
    await stack.set_policy(ids, allowRememberMyDevice=True)
    e = await enroll_at_login(stack, ids)
    token, pre = await pre_verify(stack, e)
    remembered = await remember_token(stack, f"{AUTH}/{e.device_id}/verify",
                                      verify_body(token, pre, e.key.get(pre["options"]),
                                                  rememberDevice=True))
    again = await stack.start_session(ids, rememberDeviceToken=remembered)
    assert again["mfaRequired"] is False


async def test_demo_page_is_off_unless_enabled(stack: Stack) -> None:
    for path in ("/mfa-demo/webauthn", "/mfa-demo/webauthn/demo.js"):
        body = await stack.get(path, prefix="", expected_status=404)
        assert body["errorCode"] == "ER-MFA-ROUTE"
