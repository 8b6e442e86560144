"""Passkeys on Frontegg's routes, with the software authenticator: registration, the
discoverable login (user found from the credential only), and the attacks (wrong origin,
replayed assertion, another user's credential, counter regression, a challenge of another
ceremony, no user verification)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import jwt
import pytest

from services.webauthn.passkeys import PASSKEY
from tests.conftest import PREFIX, Ids, Stack
from tests.support.responses import assert_envelope
from tests.support.webauthn_flows import (
    DEVICES,
    POSTLOGIN,
    PRELOGIN,
    as_posted,
    enroll_at_login,
    key,
    passkey_login,
    pre_verify,
    register,
)


async def test_register_list_login_and_delete(stack: Stack, ids: Ids) -> None:
    await stack.start_session(ids)  # the host's session start records the user's email
    a = await register(stack, ids)
    listed = (await stack.get(DEVICES, token=stack.user_token(ids)))["devices"]
    assert [d["deviceType"] for d in listed] == ["Platform"] and listed[0]["createdAt"]
    assert listed[0]["lastUsedAt"] is None
    pre = await stack.post(PRELOGIN, {})
    opts = pre["options"]
    assert opts["allowCredentials"] == [] and opts["userVerification"] == "required"
    assert opts["rpId"] == "example.test" and isinstance(opts["timeout"], int)
    body = as_posted(a.get(opts))
    assert "userHandle" in body["response"]  # a resident credential returns its user handle
    res = await stack.post(POSTLOGIN, body)
    assert res["mfaRequired"] is False and res["userId"] == ids.user
    assert res["amr"] == ["pwd-less", "hwk"] and res["userEmail"] == ids.email
    claims = jwt.decode(res["accessToken"], options={"verify_signature": False})
    assert claims["amr"] == ["pwd-less", "hwk"] and claims["sub"] == ids.user
    # userHandle may be absent (the store drops a null one): found from the credential id.
    res = await passkey_login(stack, a, change=lambda b: b["response"].pop("userHandle"))
    assert res["userId"] == ids.user
    listed = (await stack.get(DEVICES, token=stack.user_token(ids)))["devices"]
    assert listed[0]["lastUsedAt"]
    # Passkeys are not MFA factors: the session start still forces an enrollment.
    start = await stack.start_session(ids)
    assert start["mfaEnrolled"] is False and start["secret"]
    await stack.call("DELETE", f"{DEVICES}/{listed[0]['id']}", token=stack.user_token(ids))
    assert (await stack.get(DEVICES, token=stack.user_token(ids)))["devices"] == []
    await passkey_login(stack, a, status=400)


async def test_a_replayed_assertion_is_refused(stack: Stack, ids: Ids) -> None:
    a = await register(stack, ids)
    pre = await stack.post(PRELOGIN, {})
    body = as_posted(a.get(pre["options"]))
    await stack.post(POSTLOGIN, body)
    again = await stack.post(POSTLOGIN, body, expected_status=400)
    assert again["errorCode"] == "ER-MFA-PASSKEY-CHALLENGE"


@pytest.mark.parametrize("forged", [{"origin": "https://evil.example.test"},
                                    {"origin": "http://app.example.test"},
                                    {"rp_id": "evil.test"}])
async def test_a_wrong_origin_or_rp_id_is_refused(stack: Stack, ids: Ids,
                                                  forged: dict[str, str]) -> None:
    a = await register(stack, ids)
    res = await passkey_login(stack, a, status=400, **forged)
    assert res["errorCode"] == "ER-MFA-WEBAUTHN-FAILED"
    rows = await stack.stores.audit.for_user(ids.tenant, ids.user)
    assert sorted(r["action"] for r in rows if r["factor"] == PASSKEY) == ["enroll", "failure"]


async def test_another_users_credential_cannot_log_in_as_them(stack: Stack, ids: Ids) -> None:
    victim = ids.other()
    v = await register(stack, victim)
    mine = await register(stack, ids)
    victim_handle = v.credentials[0].user_handle
    assert victim_handle is not None
    from tests.support.soft_authenticator import b64url_encode

    # My passkey, claiming the victim's user handle: refused, nobody logged in.
    res = await passkey_login(stack, mine, status=400, change=lambda b: b["response"].update(
        userHandle=b64url_encode(victim_handle)))
    assert res["errorCode"] == "ER-MFA-WEBAUTHN-FAILED"

    # The victim's credential id, signed with my key: the signature does not hold.
    def swap(b: dict[str, Any]) -> None:
        b["id"] = b["rawId"] = v.credential_ids[0]
        b["response"].pop("userHandle", None)

    res = await passkey_login(stack, mine, status=400, change=swap)
    assert res["errorCode"] == "ER-MFA-WEBAUTHN-FAILED"
    # An MFA (second-factor) WebAuthn key is no passkey.
    e = await enroll_at_login(stack, Ids())
    res = await passkey_login(stack, e.key, status=400, credential_id=e.key.credential_ids[0])
    assert res["errorCode"] == "ER-MFA-WEBAUTHN-FAILED"


async def test_a_counter_regression_is_refused_and_audited(stack: Stack, ids: Ids) -> None:
    a = key(sign_count_start=5)
    await register(stack, ids, a)
    await passkey_login(stack, a)
    a.set_sign_count(a.credential_ids[0], 2)
    res = await passkey_login(stack, a, status=400)
    assert res["errorCode"] == "ER-MFA-WEBAUTHN-COUNTER"
    rows = await stack.stores.audit.for_user(ids.tenant, ids.user)
    assert "counter-regression" in [r["action"] for r in rows]


async def test_a_challenge_of_another_ceremony_is_no_login_challenge(stack: Stack,
                                                                     ids: Ids) -> None:
    e = await enroll_at_login(stack, ids)
    a = await register(stack, ids, e.key)  # the same authenticator holds a passkey too
    _, pre = await pre_verify(stack, e)  # an MFA assertion's challenge
    body = as_posted(a.get({**pre["options"], "allowCredentials": []}))
    res = await stack.post(POSTLOGIN, body, expected_status=400)
    assert res["errorCode"] == "ER-MFA-PASSKEY-CHALLENGE"
    # And a registration challenge is taken once, by its own user only.
    token = stack.user_token(ids)
    opts = (await stack.post(DEVICES, token=token))["options"]
    cred = key().create({**opts, "excludeCredentials": []})
    body = {"id": cred["id"], "response": {k: cred["response"][k]
                                           for k in ("clientDataJSON", "attestationObject")}}
    other = await stack.post(f"{DEVICES}/verify", body, token=stack.user_token(ids.other()),
                             expected_status=400)
    assert other["errorCode"] == "ER-MFA-PASSKEY-CHALLENGE"
    await stack.post(f"{DEVICES}/verify", body, token=token)
    again = await stack.post(f"{DEVICES}/verify", body, token=token, expected_status=400)
    assert again["errorCode"] == "ER-MFA-PASSKEY-CHALLENGE"


async def test_user_verification_is_required(stack: Stack, ids: Ids) -> None:
    token = stack.user_token(ids)
    opts = (await stack.post(DEVICES, token=token))["options"]
    cred = key(user_verified=False).create({**opts, "excludeCredentials": []})
    body = {"id": cred["id"], "response": {k: cred["response"][k]
                                           for k in ("clientDataJSON", "attestationObject")}}
    assert_envelope(await stack.post(f"{DEVICES}/verify", body, token=token,
                                     expected_status=400))
    a = await register(stack, ids)
    a.user_verified = False
    res = await passkey_login(stack, a, status=400)
    assert res["errorCode"] == "ER-MFA-WEBAUTHN-FAILED"


async def test_bad_input_and_foreign_ids_change_nothing(stack: Stack, ids: Ids) -> None:
    a = await register(stack, ids)
    for bad in ({}, {"id": "x"}, {"id": "x", "rawId": "x", "response": {}},
                {"id": "!!", "rawId": "!!", "response": {"clientDataJSON": "a",
                                                         "authenticatorData": "a",
                                                         "signature": "a"}}):
        assert_envelope(await stack.post(POSTLOGIN, bad, expected_status=400))
    pre = await stack.post(PRELOGIN, {})
    body = as_posted(a.get(pre["options"]))
    body["response"]["clientDataJSON"] = "bm90LWpzb24"  # "not-json"
    assert_envelope(await stack.post(POSTLOGIN, body, expected_status=400))
    assert_envelope(await stack.post(PRELOGIN, {"email": 5}, expected_status=400))
    [mine] = (await stack.get(DEVICES, token=stack.user_token(ids)))["devices"]
    other = stack.user_token(ids.other())
    res = await stack.call("DELETE", f"{DEVICES}/{mine['id']}", token=other,
                           expected_status=404)
    assert res["errorCode"] == "ER-MFA-UNKNOWN-DEVICE"
    assert_envelope(await stack.call("DELETE", f"{DEVICES}/{mine['id']}", expected_status=401))
    assert len((await stack.get(DEVICES, token=stack.user_token(ids)))["devices"]) == 1
    await passkey_login(stack, a)


async def test_prelogin_is_capped_per_client_address(stack: Stack) -> None:
    connector = aiohttp.TCPConnector(local_addr=("127.0.0.19", 0))
    async with aiohttp.ClientSession(connector=connector) as http:
        async def one() -> int:
            async with http.post(stack.url + PREFIX + PRELOGIN, json={}) as r:
                await r.read()
                return r.status

        statuses = await asyncio.gather(*(one() for _ in range(65)))
    assert statuses.count(429) == 5 and statuses.count(200) == 60, statuses
