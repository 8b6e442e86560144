"""Logged-in WebAuthn (the profile page): add a key, remove a key, through the gateway."""

from __future__ import annotations

from typing import Any

from tests.conftest import Ids, Stack
from tests.support.soft_authenticator import SoftAuthenticator
from tests.support.webauthn_flows import DEVICE_TYPE, USERS, enroll_at_login, key


async def _add_key(stack: Stack, token: str, k: SoftAuthenticator) -> dict[str, Any]:
    # Frontegg's preEnrollMFAWebAuthn posts no body at all (content-length 0).
    pre = await stack.post(f"{USERS}/enroll", token=token)
    cred = k.create(pre["options"])
    return await stack.post(f"{USERS}/enroll/verify", {
        "webauthnToken": pre["webauthnToken"], "options": cred, "publicKey": {},
        "deviceType": DEVICE_TYPE[cred["authenticatorAttachment"]]}, token=token)


async def _remove_key(stack: Stack, token: str, device_id: str, k: SoftAuthenticator,
                      expected_status: int = 200) -> Any:
    pre = await stack.post(f"{USERS}/{device_id}/disable", token=token)
    assertion = k.get(pre["options"])
    return await stack.post(f"{USERS}/{device_id}/disable/verify",
                            {"webauthnToken": pre["webauthnToken"], "options": assertion},
                            token=token, expected_status=expected_status)


async def test_first_key_returns_the_recovery_code_and_a_second_returns_nothing(
        stack: Stack, ids: Ids) -> None:
    token = stack.user_token(ids)
    first = await _add_key(stack, token, key("EdDSA", "platform"))
    assert set(first) == {"recoveryCode"}
    assert await _add_key(stack, token, key()) == {}
    devices = await stack.stores.devices.list_for_user(ids.tenant, ids.user, "webauthn")
    assert sorted(d.data["deviceType"] for d in devices) == ["CrossPlatform", "Platform"]
    listed = await stack.get("/resources/users/v1/mfa/devices", token=token)
    assert {w["id"] for w in listed["webauthn"]} == {d.id for d in devices}


async def test_pre_enroll_excludes_the_users_active_credentials(stack: Stack, ids: Ids) -> None:
    k = key()
    token = stack.user_token(ids)
    await _add_key(stack, token, k)
    pre = await stack.post(f"{USERS}/enroll", token=token)
    assert [c["id"] for c in pre["options"]["excludeCredentials"]] == k.credential_ids
    theirs = await stack.post(f"{USERS}/enroll", token=stack.user_token(ids.other()))
    assert theirs["options"]["excludeCredentials"] == []


async def test_same_credential_cannot_be_registered_twice(stack: Stack, ids: Ids) -> None:
    token = stack.user_token(ids)
    pre = await stack.post(f"{USERS}/enroll", token=token)
    cred = key().create(pre["options"])
    body = {"webauthnToken": pre["webauthnToken"], "options": cred}
    await stack.post(f"{USERS}/enroll/verify", body, token=token)
    pre2 = await stack.post(f"{USERS}/enroll", token=token)
    again = await stack.post(f"{USERS}/enroll/verify",
                             {**body, "webauthnToken": pre2["webauthnToken"]}, token=token,
                             expected_status=400)
    assert again["errorCode"] == "ER-MFA-WEBAUTHN-FAILED"  # signed over the first challenge


async def test_disable_with_the_keys_signature_removes_it(stack: Stack, ids: Ids) -> None:
    e = await enroll_at_login(stack, ids)
    token = e.login["accessToken"]
    assert await _remove_key(stack, token, e.device_id, e.key) == {}
    assert await stack.stores.devices.get(ids.tenant, ids.user, e.device_id) is None
    rows = await stack.stores.audit.for_user(ids.tenant, ids.user)
    assert [r["device_id"] for r in rows if r["action"] == "disable"] == [e.device_id]


async def test_disable_signed_by_another_key_keeps_the_device(stack: Stack, ids: Ids) -> None:
    e = await enroll_at_login(stack, ids)
    token = e.login["accessToken"]
    other = key()
    await _add_key(stack, token, other)
    pre = await stack.post(f"{USERS}/{e.device_id}/disable", token=token)
    assertion = other.get({**pre["options"], "allowCredentials": []},
                          credential_id=other.credential_ids[0])
    body = await stack.post(f"{USERS}/{e.device_id}/disable/verify",
                            {"webauthnToken": pre["webauthnToken"], "options": assertion},
                            token=token, expected_status=400)
    assert body["errorCode"] == "ER-MFA-WEBAUTHN-FAILED"
    assert await stack.stores.devices.get(ids.tenant, ids.user, e.device_id) is not None


async def test_disable_of_another_users_device_looks_like_an_unknown_one(
        stack: Stack, ids: Ids) -> None:
    other = await enroll_at_login(stack, ids.other())
    token = stack.user_token(ids)
    theirs = await stack.post(f"{USERS}/{other.device_id}/disable", token=token,
                              expected_status=404)
    unknown = await stack.post(f"{USERS}/{other.device_id}x/disable", token=token,
                               expected_status=404)
    assert theirs == unknown
    assert await stack.stores.devices.get(other.ids.tenant, other.ids.user,
                                          other.device_id) is not None


async def test_disable_needs_the_proof(stack: Stack, ids: Ids) -> None:
    e = await enroll_at_login(stack, ids)
    token = e.login["accessToken"]
    body = await stack.post(f"{USERS}/{e.device_id}/disable/verify", token=token,
                            expected_status=400)
    assert body["errorCode"] == "ER-MFA-VALIDATION"
    assert await stack.stores.devices.get(ids.tenant, ids.user, e.device_id) is not None


async def test_users_routes_need_a_bearer_token(stack: Stack) -> None:
    for path in ("/enroll", "/enroll/verify", "/some-device/disable",
                 "/some-device/disable/verify"):
        body = await stack.post(USERS + path, expected_status=401)
        assert body["errorCode"]
