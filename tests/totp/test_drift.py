"""TOTP clock drift: learned per device from accepted codes (bounded), and a wrong code that
matches 2-10 steps in the past answered with its own errorCode, still counted, the offset
audited; a code of a future step (it would become valid) answered like any wrong code, except
while enrolling (the sender holds the seed)."""

from __future__ import annotations

import json

from tests.conftest import Ids, Stack
from tests.support.codes import wrong_code
from tests.support.totp_flows import AUTH, USERS, code, enroll, failures, login


async def _drift(stack: Stack, ids: Ids) -> int:
    [device] = await stack.stores.devices.list_for_user(ids.tenant, ids.user, "totp")
    return device.drift


async def _verify(stack: Stack, ids: Ids, value: str, status: int = 200) -> dict[str, object]:
    token = await login(stack, ids)
    body: dict[str, object] = await stack.post(f"{AUTH}/verify",
                                               {"mfaToken": token, "value": value},
                                               expected_status=status)
    return body


async def test_drift_is_learned_from_accepted_codes_and_moves_the_window(stack: Stack,
                                                                        ids: Ids) -> None:
    seed, _ = await enroll(stack, ids)
    assert await _drift(stack, ids) == 0
    stack.clock.advance(60)  # past the enrollment's step (each step is accepted once)
    await _verify(stack, ids, code(stack, seed, -1))  # a phone 30 s slow: inside the window
    assert await _drift(stack, ids) == -1
    stack.clock.advance(90)  # (later steps: each step is accepted once)
    await _verify(stack, ids, code(stack, seed, -2))  # 60 s slow now: the window followed it
    assert await _drift(stack, ids) == -2
    stack.clock.advance(90)
    await _verify(stack, ids, code(stack, seed, 0))  # the clock was fixed
    assert await _drift(stack, ids) == 0


async def test_the_learned_drift_is_bounded(stack: Stack, ids: Ids) -> None:
    seed, _ = await enroll(stack, ids)
    stack.clock.advance(60)
    for offset in (-1, -2, -3):
        await _verify(stack, ids, code(stack, seed, offset))
        stack.clock.advance(150)
    assert await _drift(stack, ids) == -2  # MFA_TOTP_MAX_DRIFT
    body = await _verify(stack, ids, code(stack, seed, -4), status=400)
    assert body["errorCode"] == "ER-MFA-CLOCK-DRIFT"


async def test_a_code_from_a_wrong_clock_is_a_counted_failure_with_its_own_answer(
        stack: Stack, ids: Ids) -> None:
    seed, device_id = await enroll(stack, ids)
    token = await login(stack, ids)
    for n, offset in enumerate((-5, -2, -10, -7, -3)):
        body = await stack.post(f"{AUTH}/verify", {"mfaToken": token,
                                                   "value": code(stack, seed, offset)},
                                expected_status=400)
        assert body["errorCode"] == "ER-MFA-CLOCK-DRIFT", (n, body)
        assert f"{abs(offset) * 30} seconds behind" in body["errors"][0]
    # Five attempts: the mfaToken is spent, even for the right code.
    await stack.post(f"{AUTH}/verify", {"mfaToken": token, "value": code(stack, seed)},
                     expected_status=401)
    rows = await failures(stack, ids)
    details = [json.loads(r["detail"]) for r in rows]
    assert sorted(d["offsetSteps"] for d in details) == [-10, -7, -5, -3, -2]
    assert all(d["reason"] == "clock-drift" and d["offsetSeconds"] == d["offsetSteps"] * 30
               and d["error"] == "ER-MFA-CLOCK-DRIFT" for d in details)
    assert {r["device_id"] for r in rows} == {None}
    assert await _drift(stack, ids) == 0  # a failure teaches nothing


async def test_a_code_that_becomes_valid_later_is_not_disclosed(stack: Stack, ids: Ids) -> None:
    """The review's M6: a guess that hits step now+5 must not be told apart from a miss."""
    seed, _ = await enroll(stack, ids)
    plain = await _verify(stack, ids, wrong_code(code(stack, seed)), status=400)
    for offset in (2, 5, 10):
        ahead = await _verify(stack, ids, code(stack, seed, offset), status=400)
        assert ahead == plain == {"errors": ["Invalid or expired code"],
                                  "errorCode": "ER-MFA-INVALID-CODE"}
    details = [json.loads(r["detail"]) for r in await failures(stack, ids)]
    assert len(details) == 4 and not any("offsetSteps" in d for d in details), details
    token = stack.user_token(ids)  # the logged-in routes that take a code of a device too
    body = await stack.post(f"{USERS}/disable", {"token": code(stack, seed, 5)}, token=token,
                            expected_status=400)
    assert body["errorCode"] == "ER-MFA-INVALID-CODE"


async def test_codes_beyond_ten_steps_and_plain_wrong_codes_get_the_usual_answer(
        stack: Stack, ids: Ids) -> None:
    seed, _ = await enroll(stack, ids)
    for value in (code(stack, seed, 11), code(stack, seed, -11), wrong_code(code(stack, seed))):
        body = await _verify(stack, ids, value, status=400)
        assert body["errorCode"] == "ER-MFA-INVALID-CODE"


async def test_the_logged_in_routes_say_so_too(stack: Stack, ids: Ids) -> None:
    token = stack.user_token(ids)
    pre = await stack.post(f"{USERS}/authenticator/enroll", token=token)
    body = await stack.post(f"{USERS}/authenticator/enroll/verify",
                            {"token": code(stack, pre["secret"], 4)}, token=token,
                            expected_status=400)
    assert body["errorCode"] == "ER-MFA-CLOCK-DRIFT"
    await stack.post(f"{USERS}/authenticator/enroll/verify",
                     {"token": code(stack, pre["secret"])}, token=token)
    [device] = await stack.stores.devices.list_for_user(ids.tenant, ids.user, "totp")
    stack.clock.advance(30)
    body = await stack.post(f"{USERS}/authenticator/{device.id}/disable/verify",
                            {"token": code(stack, pre["secret"], -3)}, token=token,
                            expected_status=400)
    assert body["errorCode"] == "ER-MFA-CLOCK-DRIFT"
    assert await stack.stores.devices.list_for_user(ids.tenant, ids.user, "totp")
