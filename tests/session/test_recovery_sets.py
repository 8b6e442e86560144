"""Recovery-code sets beside Frontegg's one code: 10 single-use codes, regenerated only after a
recent MFA, counted (never shown) by GET, usable mid-login without losing the devices, and at
/mfa/recover with Frontegg's behaviour by default."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.conftest import Ids, Stack
from tests.support.bursts import burst
from tests.support.responses import assert_envelope
from tests.support.totp_flows import enroll_totp_device

CODES = "/resources/users/v1/mfa/recovery-codes"
LOGIN = "/resources/auth/v1/user/mfa/recovery-codes/verify"
RECOVER = "/resources/auth/v1/user/mfa/recover"


async def _with_set(stack: Stack, ids: Ids) -> list[str]:
    """An enrolled user (email known from a session start) with a fresh set."""
    await enroll_totp_device(stack, ids)
    await stack.start_session(ids)
    body = await stack.post(CODES, token=stack.user_token(ids))
    codes: list[str] = body["recoveryCodes"]
    return codes


async def test_regenerate_gives_ten_codes_and_get_counts_them(stack: Stack, ids: Ids) -> None:
    token = stack.user_token(ids)
    assert (await stack.get(CODES, token=token))["remaining"] == 0
    codes = await _with_set(stack, ids)
    assert len(codes) == len(set(codes)) == 10
    left = await stack.get(CODES, token=token)
    assert left["remaining"] == 10 and left["total"] == 10 and left["createdAt"]
    assert not any(c in str(left) for c in codes)
    rows = await stack.stores.db.fetch("SELECT code_hmac FROM recovery_codes WHERE user_id = $1",
                                       ids.user)
    assert {r["code_hmac"] for r in rows} == {stack.stores.recovery_sets.digest(c)
                                              for c in codes}
    assert not any(c.replace("-", "") in r["code_hmac"] for r in rows for c in codes)


async def test_regenerating_retires_the_old_set(stack: Stack, ids: Ids) -> None:
    old = await _with_set(stack, ids)
    new = (await stack.post(CODES, token=stack.user_token(ids)))["recoveryCodes"]
    assert not set(old) & set(new)
    token = (await stack.start_session(ids))["mfaToken"]
    refused = await stack.post(LOGIN, {"mfaToken": token, "recoveryCode": old[0]},
                               expected_status=400)
    assert refused["errorCode"] == "ER-MFA-INVALID-RECOVERY-CODE"
    body = await stack.post(LOGIN, {"mfaToken": token, "recoveryCode": new[0]})
    assert body["mfaRequired"] is False and body["amr"] == ["mfa", "rec"]


async def test_regenerating_needs_a_recent_mfa_and_an_enrolled_user(stack: Stack,
                                                                    ids: Ids) -> None:
    no_factor = await stack.post(CODES, token=stack.user_token(ids), expected_status=400)
    assert no_factor["errors"] == ["MFA is not enrolled"]
    await enroll_totp_device(stack, ids)
    now = int(stack.clock.time())
    for token in (stack.user_token(ids, amr=["pwd"]),
                  stack.user_token(ids, auth_time=now - 601)):
        refused = await stack.post(CODES, token=token, expected_status=403)
        assert refused["errorCode"] == "ER-MFA-RECENT-MFA-REQUIRED"
    await stack.set_policy(ids, recoveryCodesRequireMfaWithin=3600)
    await stack.post(CODES, token=stack.user_token(ids, auth_time=now - 601))
    assert_envelope(await stack.post(CODES, expected_status=401))
    assert (await stack.get(CODES, token=stack.user_token(ids)))["remaining"] == 10


async def test_parallel_regenerations_leave_exactly_one_set(stack: Stack, ids: Ids) -> None:
    await enroll_totp_device(stack, ids)
    token = stack.user_token(ids)

    async def one() -> Any:
        return await stack.post(CODES, token=token)

    answers = await asyncio.gather(*(one() for _ in range(6)))
    rows = await stack.stores.db.fetch("SELECT code_hmac FROM recovery_codes WHERE user_id = $1",
                                       ids.user)
    stored = {r["code_hmac"] for r in rows}
    digest = stack.stores.recovery_sets.digest
    assert len(stored) == 10
    assert sum(stored == {digest(c) for c in a["recoveryCodes"]} for a in answers) == 1


async def test_a_code_logs_in_once_and_keeps_the_devices(stack: Stack, ids: Ids) -> None:
    codes = await _with_set(stack, ids)
    token = (await stack.start_session(ids))["mfaToken"]
    body = await stack.post(LOGIN, {"mfaToken": token, "recoveryCode": codes[3].lower()})
    assert body["mfaRequired"] is False and body["accessToken"]
    assert len(await stack.stores.devices.list_for_user(ids.tenant, ids.user)) == 1
    assert (await stack.get(CODES, token=stack.user_token(ids)))["remaining"] == 9
    again = (await stack.start_session(ids))["mfaToken"]
    assert_envelope(await stack.post(LOGIN, {"mfaToken": again, "recoveryCode": codes[3]},
                                     expected_status=400))
    rows = [r for r in await stack.stores.audit.for_user(ids.tenant, ids.user)
            if r["factor"] == "recovery"]
    assert sorted((r["action"], r["outcome"]) for r in rows) == [  # one frozen time: any order
        ("failure", "refused"), ("recovery", "success"), ("regenerate", "success")]
    assert not any(codes[3] in str(r) for r in rows)


async def test_one_code_in_parallel_logs_in_exactly_once(stack: Stack, ids: Ids) -> None:
    codes = await _with_set(stack, ids)
    # Four: under the lockout's delay (from the fifth consecutive attempt), so all compare.
    tokens = [(await stack.start_session(ids))["mfaToken"] for _ in range(4)]
    statuses = await burst(stack, [(LOGIN, {"mfaToken": t, "recoveryCode": codes[0]})
                                   for t in tokens])
    assert statuses.count(200) == 1 and statuses.count(400) == 3, statuses


async def test_another_users_code_and_bad_input_change_nothing(stack: Stack, ids: Ids) -> None:
    mine = await _with_set(stack, ids)
    other = ids.other()
    theirs = await _with_set(stack, other)
    token = (await stack.start_session(ids))["mfaToken"]
    assert_envelope(await stack.post(LOGIN, {"mfaToken": token, "recoveryCode": theirs[0]},
                                     expected_status=400))
    for bad in ({"mfaToken": token}, {"mfaToken": token, "recoveryCode": 12345},
                {"mfaToken": token, "recoveryCode": "x" * 65}):
        assert_envelope(await stack.post(LOGIN, bad, expected_status=400))
    assert_envelope(await stack.post(LOGIN, {"mfaToken": "nope", "recoveryCode": mine[0]},
                                     expected_status=401))
    for who in (ids, other):
        assert (await stack.get(CODES, token=stack.user_token(who)))["remaining"] == 10


async def test_recover_with_a_set_code_removes_the_devices_by_default(stack: Stack,
                                                                     ids: Ids) -> None:
    codes = await _with_set(stack, ids)
    await stack.post(RECOVER, {"email": ids.email, "recoveryCode": codes[0]})
    assert await stack.stores.devices.list_for_user(ids.tenant, ids.user) == []
    assert_envelope(await stack.post(RECOVER, {"email": ids.email, "recoveryCode": codes[0]},
                                     expected_status=400))


async def test_recover_keeps_the_devices_when_the_tenant_says_so_and_codes_are_left(
        stack: Stack, ids: Ids) -> None:
    await stack.set_policy(ids, recoverKeepsDevices=True)
    codes = await _with_set(stack, ids)
    for c in codes[:9]:
        await stack.post(RECOVER, {"email": ids.email, "recoveryCode": c})
        assert len(await stack.stores.devices.list_for_user(ids.tenant, ids.user)) == 1
    await stack.post(RECOVER, {"email": ids.email, "recoveryCode": codes[9]})  # the last one
    assert await stack.stores.devices.list_for_user(ids.tenant, ids.user) == []
    rows = [r for r in await stack.stores.audit.for_user(ids.tenant, ids.user)
            if r["action"] == "recovery"]
    details = sorted((json.loads(r["detail"]) for r in rows), key=lambda d: -d["codesLeft"])
    assert details[-2] == {"devicesRemoved": 0, "codesLeft": 1, "removed": {}}
    # The last code removes everything the registry's recovery removes (the set is empty).
    assert details[-1] == {"devicesRemoved": 1, "codesLeft": 0,
                           "removed": {"totp": 1}} and len(details) == 10
