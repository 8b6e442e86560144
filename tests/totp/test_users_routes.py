"""Logged-in routes (Bearer): the authenticator routes and the deprecated profile-page ones."""

from __future__ import annotations

import pytest

from services.totp.schemas import Enrolled, Enrollment
from tests.conftest import Ids, Stack
from tests.support.codes import wrong_code
from tests.support.totp_flows import USERS, code, enroll, failures

PRE_ENROLL = (f"{USERS}/authenticator/enroll", f"{USERS}/enroll")
VERIFY = {f"{USERS}/authenticator/enroll": f"{USERS}/authenticator/enroll/verify",
          f"{USERS}/enroll": f"{USERS}/enroll/verify"}


@pytest.mark.parametrize("pre_path", PRE_ENROLL)
async def test_enroll_with_empty_body_then_verify_gives_recovery_code(stack: Stack, ids: Ids,
                                                                      pre_path: str) -> None:
    token = stack.user_token(ids)
    pre = await stack.post(pre_path, data=b"", token=token)
    assert set(pre) == {"qrCode", "secret"} and Enrollment().validate(pre) == {}
    body = await stack.post(VERIFY[pre_path], {"token": code(stack, pre["secret"])}, token=token)
    assert set(body) == {"recoveryCode"} and len(body["recoveryCode"]) >= 20
    assert Enrolled().validate(body) == {}
    devices = await stack.stores.devices.list_for_user(ids.tenant, ids.user, "totp")
    assert len(devices) == 1
    assert devices[0].last_step == int(stack.clock.time()) // 30
    view = await stack.get(f"{USERS}/devices", token=token)
    assert [a["id"] for a in view["authenticators"]] == [devices[0].id]


async def test_pending_seed_is_encrypted_and_single_use(stack: Stack, ids: Ids) -> None:
    token = stack.user_token(ids)
    pre = await stack.post(f"{USERS}/authenticator/enroll", token=token)
    rec = await stack.stores.eph.get(f"totp:pending:{ids.tenant}:{ids.user}")
    assert rec is not None and pre["secret"] not in str(rec)
    await stack.post(f"{USERS}/authenticator/enroll/verify",
                     {"token": code(stack, pre["secret"])}, token=token)
    stack.clock.advance(30)
    res = await stack.post(f"{USERS}/authenticator/enroll/verify",
                           {"token": code(stack, pre["secret"])}, token=token,
                           expected_status=400)
    assert res["errorCode"] == "ER-MFA-NO-ENROLLMENT"


async def test_enroll_verify_without_pre_enroll_is_400(stack: Stack, ids: Ids) -> None:
    res = await stack.post(f"{USERS}/enroll/verify", {"token": "123456"},
                           token=stack.user_token(ids), expected_status=400)
    assert res["errorCode"] == "ER-MFA-NO-ENROLLMENT"


async def test_enroll_wrong_code_is_refused_and_counted(stack: Stack, ids: Ids) -> None:
    token = stack.user_token(ids)
    pre = await stack.post(f"{USERS}/authenticator/enroll", token=token)
    res = await stack.post(f"{USERS}/authenticator/enroll/verify",
                           {"token": wrong_code(code(stack, pre["secret"]))}, token=token,
                           expected_status=400)
    assert res["errorCode"] == "ER-MFA-INVALID-CODE"
    assert len(await failures(stack, ids)) == 1
    await stack.post(f"{USERS}/authenticator/enroll/verify",
                     {"token": code(stack, pre["secret"])}, token=token)


async def test_pending_seed_expires(stack: Stack, ids: Ids) -> None:
    token = stack.user_token(ids)
    pre = await stack.post(f"{USERS}/authenticator/enroll", token=token)
    stack.clock.advance(601)
    await stack.post(f"{USERS}/authenticator/enroll/verify",
                     {"token": code(stack, pre["secret"])}, token=token, expected_status=400)


async def test_users_routes_need_a_bearer(stack: Stack, ids: Ids) -> None:
    for path in (*PRE_ENROLL, *VERIFY.values(), f"{USERS}/disable",
                 f"{USERS}/authenticator/x/disable/verify"):
        res = await stack.post(path, {"token": "123456"}, expected_status=401)
        assert res["errorCode"] == "ER-MFA-UNAUTHORIZED"
        await stack.post(path, {"token": "123456"}, token="not.a.jwt", expected_status=401)


async def test_users_enroll_refused_when_policy_lacks_the_app(stack: Stack, ids: Ids) -> None:
    await stack.set_policy(ids, strategies=["WebAuthnPlatform"])
    res = await stack.post(f"{USERS}/enroll", token=stack.user_token(ids), expected_status=403)
    assert res["errorCode"] == "ER-MFA-STRATEGY-DISABLED"


async def test_disable_device_with_its_code_removes_it(stack: Stack, ids: Ids) -> None:
    seed, device_id = await enroll(stack, ids)
    res = await stack.post(f"{USERS}/authenticator/{device_id}/disable/verify",
                           {"token": code(stack, seed)}, token=stack.user_token(ids))
    assert res == {}
    assert await stack.stores.devices.list_for_user(ids.tenant, ids.user) == []
    actions = [r["action"] for r in await stack.stores.audit.for_user(ids.tenant, ids.user)]
    # The proof (written with the step it spends) and the removal, at the same instant.
    assert sorted(actions[-2:]) == ["disable", "verify"], actions


async def test_disable_device_refuses_wrong_unknown_and_foreign(stack: Stack, ids: Ids) -> None:
    seed, device_id = await enroll(stack, ids)
    other = ids.other()
    other_seed, other_device = await enroll(stack, other)
    token = stack.user_token(ids)
    answers = []
    for dev, value in ((device_id, wrong_code(code(stack, seed))), ("nope", code(stack, seed)),
                       (other_device, code(stack, other_seed))):
        answers.append(await stack.post(f"{USERS}/authenticator/{dev}/disable/verify",
                                        {"token": value}, token=token, expected_status=400))
    assert answers[0] == answers[1] == answers[2]
    assert len(await stack.stores.devices.list_for_user(ids.tenant, ids.user)) == 1
    assert len(await stack.stores.devices.list_for_user(other.tenant, other.user)) == 1
    await stack.post(f"{USERS}/authenticator/{device_id}/disable/verify", {}, token=token,
                     expected_status=400)


async def test_deprecated_disable_with_code(stack: Stack, ids: Ids) -> None:
    seed, _ = await enroll(stack, ids)
    token = stack.user_token(ids)
    await stack.post(f"{USERS}/disable", {"token": wrong_code(code(stack, seed))}, token=token,
                     expected_status=400)
    await stack.post(f"{USERS}/disable", {"token": code(stack, seed)}, token=token)
    assert await stack.stores.devices.list_for_user(ids.tenant, ids.user) == []


async def test_deprecated_disable_with_recovery_code_once(stack: Stack, ids: Ids) -> None:
    token = stack.user_token(ids)
    pre = await stack.post(f"{USERS}/enroll", token=token)
    body = await stack.post(f"{USERS}/enroll/verify", {"token": code(stack, pre["secret"])},
                            token=token)
    await stack.post(f"{USERS}/disable", {"token": "AAAAA-BBBBB-CCCCC-DDDDD"}, token=token,
                     expected_status=400)
    assert len(await stack.stores.devices.list_for_user(ids.tenant, ids.user)) == 1
    await stack.post(f"{USERS}/disable", {"token": body["recoveryCode"].lower()}, token=token)
    assert await stack.stores.devices.list_for_user(ids.tenant, ids.user) == []
    # The recovery code is spent; a new first enrollment hands out a new one.
    stack.clock.advance(30)
    pre = await stack.post(f"{USERS}/enroll", token=token)
    again = await stack.post(f"{USERS}/enroll/verify", {"token": code(stack, pre["secret"])},
                             token=token)
    assert again["recoveryCode"] != body["recoveryCode"]


async def test_deprecated_disable_without_device_keeps_the_recovery_code(stack: Stack, ids: Ids
                                                                         ) -> None:
    token = stack.user_token(ids)
    pre = await stack.post(f"{USERS}/enroll", token=token)
    body = await stack.post(f"{USERS}/enroll/verify", {"token": code(stack, pre["secret"])},
                            token=token)
    stack.clock.advance(30)
    await stack.post(f"{USERS}/disable", {"token": code(stack, pre["secret"])}, token=token)
    await stack.post(f"{USERS}/disable", {"token": body["recoveryCode"]}, token=token,
                     expected_status=400)
    assert await stack.stores.recovery.has_code(ids.tenant, ids.user)
