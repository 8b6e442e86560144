"""Guessing limits that hold under parallel requests, on every kind of TOTP route: each
attempt is reserved (counted on the mfaToken and the user's lockout) before its code is
compared, so a burst gets no more comparisons than requests sent one by one would."""

from __future__ import annotations

import pytest

from tests.conftest import Ids, Stack
from tests.support.bursts import burst, evaluated, refused_rows
from tests.support.codes import wrong_code
from tests.support.totp_flows import AUTH, USERS, code, enroll, login

MAX_TOKEN_FAILURES = 5  # MFA_TOKEN_MAX_FAILURES
DELAY_AFTER = 5  # MFA_LOCKOUT_DELAY_AFTER


@pytest.mark.parametrize("route", ["verify", "device"])
async def test_parallel_wrong_codes_on_one_mfa_token_get_five_comparisons(
        stack: Stack, ids: Ids, route: str) -> None:
    seed, device_id = await enroll(stack, ids)
    token = await login(stack, ids)
    path = f"{AUTH}/verify" if route == "verify" else f"{AUTH}/authenticator/{device_id}/verify"
    bad = wrong_code(code(stack, seed))
    statuses = await burst(stack, [(path, {"mfaToken": token, "value": bad})] * 20)
    assert evaluated(statuses) == MAX_TOKEN_FAILURES, statuses
    assert statuses.count(401) == 20 - MAX_TOKEN_FAILURES
    assert await refused_rows(stack, ids.tenant, ids.user, "totp") == MAX_TOKEN_FAILURES
    res = await stack.post(path, {"mfaToken": token, "value": code(stack, seed)},
                           expected_status=401)
    assert res["errorCode"] == "ER-MFA-INVALID-MFA-TOKEN"


async def test_a_burst_over_many_mfa_tokens_is_stopped_by_the_delay(stack: Stack,
                                                                    ids: Ids) -> None:
    seed, _ = await enroll(stack, ids)
    tokens = [await login(stack, ids) for _ in range(30)]
    bad = wrong_code(code(stack, seed))
    statuses = await burst(stack, [(f"{AUTH}/verify", {"mfaToken": t, "value": bad})
                                   for t in tokens for _ in range(5)])
    assert evaluated(statuses) <= DELAY_AFTER + 1, statuses
    assert statuses.count(429) >= 150 - DELAY_AFTER - 1
    assert await refused_rows(stack, ids.tenant, ids.user, "totp") == evaluated(statuses)
    # The right code inside the next burst, while the delay runs: refused, not compared.
    fresh = [await login(stack, ids) for _ in range(3)]
    right = code(stack, seed)
    mixed = [(f"{AUTH}/verify", {"mfaToken": fresh[0], "value": bad}),
             (f"{AUTH}/verify", {"mfaToken": fresh[1], "value": right}),
             (f"{AUTH}/verify", {"mfaToken": fresh[2], "value": bad})]
    assert await burst(stack, mixed) == [429, 429, 429]


async def test_parallel_wrong_codes_on_a_forced_enrollment_get_five_comparisons(
        stack: Stack, ids: Ids) -> None:
    start = await stack.start_session(ids)
    token, seed = start["mfaToken"], start["secret"]
    bad = wrong_code(code(stack, seed))
    for path, field in ((f"{AUTH}/authenticator/enroll/verify", "token"),):
        statuses = await burst(stack, [(path, {"mfaToken": token, field: bad})] * 20)
        assert evaluated(statuses) == MAX_TOKEN_FAILURES, statuses
        await stack.post(path, {"mfaToken": token, field: code(stack, seed)},
                         expected_status=401)
    assert await stack.stores.devices.list_for_user(ids.tenant, ids.user) == []


@pytest.mark.parametrize("route", ["disable", "device-disable", "enroll"])
async def test_parallel_wrong_codes_on_bearer_routes_count_against_the_lockout(
        stack: Stack, ids: Ids, route: str) -> None:
    seed, device_id = await enroll(stack, ids)
    bearer = stack.user_token(ids)
    if route == "enroll":
        seed = (await stack.post(f"{USERS}/authenticator/enroll", token=bearer))["secret"]
    path = {"disable": f"{USERS}/disable",
            "device-disable": f"{USERS}/authenticator/{device_id}/disable/verify",
            "enroll": f"{USERS}/authenticator/enroll/verify"}[route]
    bad = wrong_code(code(stack, seed))
    statuses = await burst(stack, [(path, {"token": bad})] * 20, token=bearer)
    assert evaluated(statuses) == DELAY_AFTER, statuses
    assert statuses.count(429) == 20 - DELAY_AFTER
    # The delay holds for the right code too, and for the user's next login.
    await stack.post(path, {"token": code(stack, seed)}, token=bearer, expected_status=429)
    await stack.post(f"{AUTH}/verify", {"mfaToken": await login(stack, ids),
                                        "value": code(stack, seed)}, expected_status=429)
