"""What an attacker (or a broken client) tries: each refused with a 4xx envelope."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from tests.conftest import Ids, Stack
from tests.support.webauthn_flows import (
    AUTH,
    enroll_at_login,
    enroll_body,
    key,
    pre_verify,
    sign_count,
    verify_body,
)

FAILED = "ER-MFA-WEBAUTHN-FAILED"


async def _failures(stack: Stack, ids: Ids) -> list[dict[str, Any]]:
    rows = await stack.stores.audit.for_user(ids.tenant, ids.user)
    return [r for r in rows if r["action"] == "failure"]


# Signed in a page at another origin (scheme or host), or scoped to another RP id.
FORGERIES = [{"origin": "https://evil.example.test"}, {"origin": "http://app.example.test"},
             {"rp_id": "evil.test"}]


@pytest.mark.parametrize("forged", FORGERIES)
async def test_assertion_for_a_wrong_origin_or_rp_id_is_refused(
        stack: Stack, ids: Ids, forged: dict[str, str]) -> None:
    e = await enroll_at_login(stack, ids)
    token, pre = await pre_verify(stack, e)
    assertion = e.key.get(pre["options"], **forged)
    body = await stack.post(f"{AUTH}/{e.device_id}/verify", verify_body(token, pre, assertion),
                            expected_status=400)
    assert body["errorCode"] == FAILED and body["errors"]
    assert await sign_count(stack, e) == 0
    assert len(await _failures(stack, ids)) == 1


@pytest.mark.parametrize("forged", FORGERIES)
async def test_registration_for_a_wrong_origin_or_rp_id_stores_nothing(
        stack: Stack, ids: Ids, forged: dict[str, str]) -> None:
    s = await stack.start_session(ids)
    pre = await stack.post(f"{AUTH}/enroll", {"mfaToken": s["mfaToken"]})
    cred = key().create(pre["options"], **forged)
    body = await stack.post(f"{AUTH}/enroll/verify", enroll_body(s["mfaToken"], pre, cred),
                            expected_status=400)
    assert body["errorCode"] == FAILED
    assert await stack.stores.devices.list_for_user(ids.tenant, ids.user) == []


async def test_replayed_challenge_is_refused(stack: Stack, ids: Ids) -> None:
    e = await enroll_at_login(stack, ids)
    token, pre = await pre_verify(stack, e)
    assertion = e.key.get(pre["options"])
    await stack.post(f"{AUTH}/{e.device_id}/verify", verify_body(token, pre, assertion))
    # The same webauthnToken again (with a fresh mfaToken): the challenge is spent.
    token2, pre2 = await pre_verify(stack, e)
    again = await stack.post(f"{AUTH}/{e.device_id}/verify", verify_body(token2, pre, assertion),
                             expected_status=400)
    assert again["errorCode"] == "ER-MFA-INVALID-WEBAUTHN-TOKEN"
    # The old assertion against the fresh challenge: signed over another challenge.
    old = await stack.post(f"{AUTH}/{e.device_id}/verify", verify_body(token2, pre2, assertion),
                           expected_status=400)
    assert old["errorCode"] == FAILED


async def test_tampered_signature_is_refused(stack: Stack, ids: Ids) -> None:
    e = await enroll_at_login(stack, ids)
    token, pre = await pre_verify(stack, e)
    assertion = e.key.tamper_signature(e.key.get(pre["options"]))
    body = await stack.post(f"{AUTH}/{e.device_id}/verify", verify_body(token, pre, assertion),
                            expected_status=400)
    assert body["errorCode"] == FAILED
    assert await sign_count(stack, e) == 0


async def test_counter_regression_is_refused_and_audited(stack: Stack, ids: Ids) -> None:
    e = await enroll_at_login(stack, ids, key(sign_count_start=10))
    token, pre = await pre_verify(stack, e)
    await stack.post(f"{AUTH}/{e.device_id}/verify",
                     verify_body(token, pre, e.key.get(pre["options"])))
    assert await sign_count(stack, e) == 11
    e.key.set_sign_count(e.key.credential_ids[0], 4)  # a clone that signs with count 5
    token, pre = await pre_verify(stack, e)
    body = await stack.post(f"{AUTH}/{e.device_id}/verify",
                            verify_body(token, pre, e.key.get(pre["options"])),
                            expected_status=400)
    assert body["errorCode"] == "ER-MFA-WEBAUTHN-COUNTER"
    assert await sign_count(stack, e) == 11
    rows = await stack.stores.audit.for_user(ids.tenant, ids.user)
    alarms = [r for r in rows if r["action"] == "counter-regression"]
    assert len(alarms) == 1 and alarms[0]["device_id"] == e.device_id
    assert '"received": 5' in alarms[0]["detail"]


async def test_forged_assertion_with_a_low_counter_raises_no_clone_alarm(
        stack: Stack, ids: Ids) -> None:
    e = await enroll_at_login(stack, ids, key(sign_count_start=10))
    e.key.set_sign_count(e.key.credential_ids[0], 1)
    token, pre = await pre_verify(stack, e)
    forged = e.key.tamper_signature(e.key.get(pre["options"]))
    body = await stack.post(f"{AUTH}/{e.device_id}/verify", verify_body(token, pre, forged),
                            expected_status=400)
    assert body["errorCode"] == FAILED
    rows = await stack.stores.audit.for_user(ids.tenant, ids.user)
    assert not [r for r in rows if r["action"] == "counter-regression"]


async def test_another_users_device_looks_like_an_unknown_one(stack: Stack, ids: Ids) -> None:
    other = await enroll_at_login(stack, ids.other())
    s = await stack.start_session(ids)
    theirs = await stack.post(f"{AUTH}/{other.device_id}", {"mfaToken": s["mfaToken"]},
                              expected_status=404)
    unknown = await stack.post(f"{AUTH}/no-such-device", {"mfaToken": s["mfaToken"]},
                               expected_status=404)
    assert theirs == unknown == {"errors": ["Unknown device"],
                                 "errorCode": "ER-MFA-UNKNOWN-DEVICE"}


async def test_own_token_on_another_users_device_is_refused(stack: Stack, ids: Ids) -> None:
    mine = await enroll_at_login(stack, ids)
    other = await enroll_at_login(stack, ids.other())
    token, pre = await pre_verify(stack, mine)
    assertion = other.key.get({**pre["options"], "allowCredentials": []},
                              credential_id=other.key.credential_ids[0])
    body = await stack.post(f"{AUTH}/{other.device_id}/verify",
                            verify_body(token, pre, assertion), expected_status=400)
    assert body["errorCode"] == "ER-MFA-INVALID-WEBAUTHN-TOKEN"


def _malformed(cred: dict[str, Any]) -> list[Any]:
    def edit(fn: Any) -> dict[str, Any]:
        c = copy.deepcopy(cred)
        fn(c)
        return c

    return [
        "not an object", None, [], {},
        edit(lambda c: c.pop("response")),
        edit(lambda c: c.pop("rawId")),
        edit(lambda c: c["response"].pop("attestationObject")),
        edit(lambda c: c["response"].update(clientDataJSON=c["response"]["clientDataJSON"] + "=")),
        edit(lambda c: c["response"].update(attestationObject=12345)),
        edit(lambda c: c.update(type="password")),
        edit(lambda c: c.update(id="a+b/c")),
    ]


async def test_malformed_credential_json_is_a_400_and_stores_nothing(
        stack: Stack, ids: Ids) -> None:
    s = await stack.start_session(ids)
    pre = await stack.post(f"{AUTH}/enroll", {"mfaToken": s["mfaToken"]})
    cred = key().create(pre["options"])
    for bad in _malformed(cred):
        body = await stack.post(f"{AUTH}/enroll/verify",
                                {**enroll_body(s["mfaToken"], pre, cred), "options": bad},
                                expected_status=400)
        assert body["errorCode"] == "ER-MFA-VALIDATION" and body["errors"], bad
    raw = await stack.call("POST", f"{AUTH}/enroll/verify", data=b'{"options": {',
                           expected_status=400)
    assert raw["errorCode"] == "ER-MFA-MALFORMED-JSON"
    assert await stack.stores.devices.list_for_user(ids.tenant, ids.user) == []
    assert await _failures(stack, ids) == []
    # Bad input spent nothing: the same webauthnToken still enrolls the real credential.
    await stack.post(f"{AUTH}/enroll/verify", enroll_body(s["mfaToken"], pre, cred))


async def test_parallel_verifies_with_one_webauthn_token_have_one_winner(
        stack: Stack, ids: Ids) -> None:
    e = await enroll_at_login(stack, ids)
    token, pre = await pre_verify(stack, e)
    body = verify_body(token, pre, e.key.get(pre["options"]))
    url = stack.url + "/frontegg/identity" + f"{AUTH}/{e.device_id}/verify"

    async def one() -> tuple[int, str]:
        async with stack.http.post(url, json=body) as r:
            return r.status, (await r.json()).get("errorCode", "")

    results = await asyncio.gather(*(one() for _ in range(8)))
    assert [s for s, _ in results].count(200) == 1, results
    # A loser either found the challenge spent or the mfaToken used or out of attempts (at
    # most MFA_TOKEN_MAX_FAILURES are let through to be evaluated, each counted first).
    assert {c for s, c in results if s != 200} <= {"ER-MFA-INVALID-WEBAUTHN-TOKEN",
                                                   "ER-MFA-INVALID-MFA-TOKEN"}
    evaluated = [s for s, _ in results if s != 401]
    assert len(evaluated) <= 5
    assert await sign_count(stack, e) == 1
    assert len(await _failures(stack, ids)) == evaluated.count(400)


async def test_parallel_enrollments_in_one_login_leave_one_device(stack: Stack, ids: Ids) -> None:
    s = await stack.start_session(ids)
    k = key()
    bodies = []
    for _ in range(4):
        pre = await stack.post(f"{AUTH}/enroll", {"mfaToken": s["mfaToken"]})
        bodies.append(enroll_body(s["mfaToken"], pre, k.create(pre["options"])))
    url = stack.url + "/frontegg/identity" + f"{AUTH}/enroll/verify"

    async def one(b: dict[str, Any]) -> int:
        async with stack.http.post(url, json=b) as r:
            await r.read()
            return r.status

    statuses = await asyncio.gather(*(one(b) for b in bodies))
    assert statuses.count(200) == 1, statuses
    assert len(await stack.stores.devices.list_for_user(ids.tenant, ids.user)) == 1


async def test_webauthn_token_of_another_login_is_refused(stack: Stack, ids: Ids) -> None:
    e = await enroll_at_login(stack, ids)
    _, pre = await pre_verify(stack, e)
    other = await stack.start_session(ids)
    body = await stack.post(f"{AUTH}/{e.device_id}/verify",
                            verify_body(other["mfaToken"], pre, e.key.get(pre["options"])),
                            expected_status=400)
    assert body["errorCode"] == "ER-MFA-INVALID-WEBAUTHN-TOKEN"


async def test_five_failures_burn_the_mfa_token(stack: Stack, ids: Ids) -> None:
    e = await enroll_at_login(stack, ids)
    s = await stack.start_session(ids)
    for _ in range(5):
        pre = await stack.post(f"{AUTH}/{e.device_id}", {"mfaToken": s["mfaToken"]})
        forged = e.key.tamper_signature(e.key.get(pre["options"]))
        await stack.post(f"{AUTH}/{e.device_id}/verify",
                         verify_body(s["mfaToken"], pre, forged), expected_status=400)
    await stack.post(f"{AUTH}/{e.device_id}", {"mfaToken": s["mfaToken"]}, expected_status=401)


async def test_user_verification_required_by_policy_refuses_presence_only(
        stack: Stack, ids: Ids) -> None:
    await stack.set_policy(ids, userVerification="required")
    s = await stack.start_session(ids)
    pre = await stack.post(f"{AUTH}/enroll", {"mfaToken": s["mfaToken"]})
    assert pre["options"]["authenticatorSelection"]["userVerification"] == "required"
    cred = key(user_verified=False).create(pre["options"])
    await stack.post(f"{AUTH}/enroll/verify", enroll_body(s["mfaToken"], pre, cred),
                     expected_status=400)
    pre = await stack.post(f"{AUTH}/enroll", {"mfaToken": s["mfaToken"]})
    await stack.post(f"{AUTH}/enroll/verify",
                     enroll_body(s["mfaToken"], pre, key().create(pre["options"])))


async def test_tenant_allowing_only_security_keys_refuses_a_platform_authenticator(
        stack: Stack, ids: Ids) -> None:
    await stack.set_policy(ids, strategies=["WebAuthnCrossPlatform"])
    s = await stack.start_session(ids)
    pre = await stack.post(f"{AUTH}/enroll", {"mfaToken": s["mfaToken"]})
    assert pre["options"]["authenticatorSelection"]["authenticatorAttachment"] == "cross-platform"
    cred = key(attachment="platform").create(pre["options"])
    body = await stack.post(f"{AUTH}/enroll/verify", enroll_body(s["mfaToken"], pre, cred),
                            expected_status=403)
    assert body["errorCode"] == "ER-MFA-NOT-ALLOWED"
    assert await stack.stores.devices.list_for_user(ids.tenant, ids.user) == []


async def test_tenant_without_webauthn_gets_no_options(stack: Stack, ids: Ids) -> None:
    await stack.set_policy(ids, strategies=["AuthenticatorApp"])
    s = await stack.start_session(ids)
    await stack.post(f"{AUTH}/enroll", {"mfaToken": s["mfaToken"]}, expected_status=403)


async def test_missing_or_unknown_mfa_token_is_401(stack: Stack) -> None:
    for body in ({}, {"mfaToken": "nope"}):
        r = await stack.post(f"{AUTH}/enroll", body,
                             expected_status=400 if not body else 401)
        assert r["errors"]
