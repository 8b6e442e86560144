"""HOTP hardware tokens (RFC 4226, shared.mfa.hotp) through the gateway in both modes:
imported (admin API, JSON lines), verified mid-login by the authenticator routes with a
look-ahead, each counter once (also in parallel), resynchronised by an operator from two
consecutive codes, locked with the authenticator app's counter."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pyotp
import pytest

from shared.mfa import hotp
from tests.conftest import Ids, Stack
from tests.operators.test_admin_api import admin, user
from tests.operators.test_import import import_file
from tests.support.codes import wrong_code
from tests.support.operator_access import cli
from tests.support.records import audit_rows
from tests.support.totp_flows import AUTH, LOCK_ENV, USERS, import_token, login

PARALLEL = 50


@pytest.fixture
def extra_env() -> dict[str, str]:
    """Lock a factor at 3 failures."""
    return LOCK_ENV


async def _verify(stack: Stack, ids: Ids, value: str, device_id: str | None = None,
                  expected_status: int = 200) -> Any:
    path = f"{AUTH}/authenticator/{device_id}/verify" if device_id else f"{AUTH}/verify"
    return await stack.post(path, {"mfaToken": await login(stack, ids), "value": value},
                            expected_status=expected_status)


async def test_an_imported_token_logs_in_through_both_verify_routes(stack: Stack, ids: Ids
                                                                    ) -> None:
    token, device_id = await import_token(stack, ids, counter=5, digits=8)
    start = await stack.start_session(ids)
    assert start["mfaRequired"] is True and "secret" not in start
    assert start["mfaDevices"]["authenticators"] == [{"id": device_id}]
    body = await stack.post(f"{AUTH}/verify", {"mfaToken": start["mfaToken"],
                                               "value": token.at(5)})
    assert body["mfaRequired"] is False and body["amr"] == ["mfa", "otp"]
    body = await _verify(stack, ids, token.at(6), device_id)
    assert body["userId"] == ids.user
    await _verify(stack, ids, token.at(6), device_id, expected_status=400)  # spent
    stored = await stack.stores.devices.get(ids.tenant, ids.user, device_id)
    assert stored is not None and stored.last_step == 6 and stored.name == "Hardware token"
    assert [r["factor"] for r in await audit_rows(stack, ids, "verify")] == ["hotp", "hotp"]
    [spent] = await audit_rows(stack, ids, "failure")  # counted on the authenticators' counter
    assert (spent["factor"], spent["device_id"]) == ("totp", device_id)
    listed = await admin(stack, "GET", f"{user(ids)}/factors")
    assert [(f["kind"], f["locked"]) for f in listed["factors"]] == [("hotp", False)]
    devices = await stack.get(f"{USERS}/devices", token=stack.user_token(ids))
    assert [d["name"] for d in devices["authenticators"]] == ["Hardware token"]


async def test_the_look_ahead_accepts_ten_skipped_presses_and_no_more(stack: Stack, ids: Ids
                                                                      ) -> None:
    token, _ = await import_token(stack, ids)
    await _verify(stack, ids, token.at(hotp.LOOK_AHEAD + 1), expected_status=400)
    await _verify(stack, ids, token.at(hotp.LOOK_AHEAD))  # 10 presses never sent
    await _verify(stack, ids, token.at(hotp.LOOK_AHEAD - 1), expected_status=400)  # older
    await _verify(stack, ids, token.at(2 * hotp.LOOK_AHEAD + 1))  # counted from the new one


def test_the_look_ahead_is_a_bounded_setting() -> None:
    assert hotp.look_ahead({}) == 10
    assert hotp.look_ahead({"MFA_HOTP_LOOK_AHEAD": "0"}) == 0
    for bad in ("51", "-1", "ten"):
        with pytest.raises(ValueError, match="MFA_HOTP_LOOK_AHEAD"):
            hotp.look_ahead({"MFA_HOTP_LOOK_AHEAD": bad})


async def _statuses(stack: Stack, calls: list[tuple[str, dict[str, str]]]) -> list[int]:
    async def one(path: str, body: dict[str, str]) -> int:
        async with stack.http.post(f"{stack.url}/frontegg/identity{path}", json=body) as r:
            await r.read()
            return r.status

    return list(await asyncio.gather(*(one(*c) for c in calls)))


async def test_one_code_sent_in_parallel_logs_in_once(stack: Stack, ids: Ids) -> None:
    token, device_id = await import_token(stack, ids)
    tokens = [await login(stack, ids) for _ in range(PARALLEL)]
    value = token.at(3)
    half = PARALLEL // 2
    statuses = await _statuses(
        stack, [(f"{AUTH}/verify", {"mfaToken": t, "value": value}) for t in tokens[:half]]
        + [(f"{AUTH}/authenticator/{device_id}/verify", {"mfaToken": t, "value": value})
           for t in tokens[half:]])
    # One winner; the rest are refused: a replay (400) or, once the attempts reserved before
    # them reach the lock, 429 before any comparison.
    assert statuses.count(200) == 1 and statuses.count(400) + statuses.count(429) == PARALLEL - 1
    assert len(await audit_rows(stack, ids, "verify")) == 1
    stored = await stack.stores.devices.get(ids.tenant, ids.user, device_id)
    assert stored is not None and stored.last_step == 3


async def test_an_operator_resynchronises_a_token_from_two_consecutive_codes(
        stack: Stack, ids: Ids) -> None:
    token, device_id = await import_token(stack, ids)
    far = 40  # pressed 40 times in a drawer: beyond the look-ahead
    await _verify(stack, ids, token.at(far), expected_status=400)
    path = f"{user(ids)}/factors/{device_id}/resync"
    res = await admin(stack, "POST", path, json={"codes": [token.at(far), token.at(far + 2)]},
                      expected_status=400)
    assert res["errorCode"] == "ER-MFA-HOTP-RESYNC-FAILED"  # not consecutive
    done = await admin(stack, "POST", path, json={"codes": [token.at(far), token.at(far + 1)],
                                                  "reason": "ticket 7"})
    assert done == {"counter": far + 2}
    await _verify(stack, ids, token.at(far + 1), expected_status=400)  # spent by the resync
    await _verify(stack, ids, token.at(far + 2), device_id)
    again = await admin(stack, "POST", path, json={"codes": [token.at(far), token.at(far + 1)]},
                        expected_status=400)
    assert again["errorCode"] == "ER-MFA-HOTP-RESYNC-FAILED"  # a counter only moves forward
    [row] = await audit_rows(stack, ids, "resync")
    assert row["factor"] == "hotp" and row["device_id"] == device_id
    assert json.loads(row["detail"]) == {"actor": "support-ann", "reason": "ticket 7",
                                         "skipped": far}
    for bad in ({"codes": [token.at(1)]}, {"codes": ["12345a", "123456"]}, {}):
        res = await admin(stack, "POST", path, json=bad, expected_status=400)
        assert res["errorCode"] == "ER-MFA-VALIDATION"
    for other in ("no-such-device", (await import_token(stack, ids.other()))[1]):
        await admin(stack, "POST", f"{user(ids)}/factors/{other}/resync",
                    json={"codes": [token.at(50), token.at(51)]}, expected_status=404)


async def test_wrong_codes_lock_the_token_with_the_authenticator_apps(stack: Stack, ids: Ids
                                                                      ) -> None:
    token, device_id = await import_token(stack, ids)
    for _ in range(3):  # LOCK_ENV locks at 3
        await _verify(stack, ids, wrong_code(token.at(0)), device_id, expected_status=400)
    res = await _verify(stack, ids, token.at(0), expected_status=429)
    assert res["errorCode"] == "ER-MFA-LOCKED"
    listed = await admin(stack, "GET", f"{user(ids)}/factors")
    assert [(f["kind"], f["locked"]) for f in listed["factors"]] == [("hotp", True)]
    assert {s["factor"]: s["locked"] for s in listed["lockouts"]}["totp"] is True
    await admin(stack, "POST", f"{user(ids)}/unlock", json={"factor": "totp"})
    await _verify(stack, ids, token.at(0))


async def test_unknown_and_foreign_tokens_answer_like_a_wrong_code(stack: Stack, ids: Ids
                                                                   ) -> None:
    token, device_id = await import_token(stack, ids)
    other = ids.other()
    other_token, other_device = await import_token(stack, other)
    token_ = await login(stack, ids)
    answers = []
    for dev, value in ((device_id, wrong_code(token.at(0))), ("no-such-device", token.at(0)),
                       (other_device, other_token.at(0))):
        answers.append(await stack.post(f"{AUTH}/authenticator/{dev}/verify",
                                        {"mfaToken": token_, "value": value},
                                        expected_status=400))
    assert answers[0] == answers[1] == answers[2] == {
        "errors": ["Invalid or expired code"], "errorCode": "ER-MFA-INVALID-CODE"}
    foreign = await stack.stores.devices.get(other.tenant, other.user, other_device)
    assert foreign is not None and foreign.last_step == -1


async def test_a_tokens_wrong_code_never_gets_the_clock_drift_hint(stack: Stack, ids: Ids
                                                                  ) -> None:
    token, device_id = await import_token(stack, ids)
    # What an authenticator app with the token's seed showed 3 steps ago: an app's drift.
    app_code = pyotp.TOTP(token.secret).at(stack.clock.now(), counter_offset=-3)
    for dev in (device_id, None):
        res = await _verify(stack, ids, app_code, dev, expected_status=400)
        assert res["errorCode"] == "ER-MFA-INVALID-CODE"


async def test_the_import_refuses_bad_tokens_and_changes_nothing(stack: Stack, ids: Ids) -> None:
    short = base64.b32encode(b"\x01" * 9).decode()  # 72 bits
    good = base64.b32encode(b"\x02" * 10).decode()
    for bad, field in (({"secret": short}, "80 bits"), ({"secret": good, "digits": 7}, "digits"),
                       ({"secret": good, "counter": -1}, "counter"),
                       ({"secret": good, "counter": "5"}, "counter"),
                       ({"secret": good, "counter": True}, "counter"), ({}, "secret"), ("x", "")):
        res = await admin(stack, "POST", f"{user(ids)}/import", json={"hotp": [bad]},
                          expected_status=400)
        assert res["errorCode"] == "ER-MFA-VALIDATION" and field in res["errors"][0]
    assert await stack.stores.devices.list_for_user(ids.tenant, ids.user) == []
    again = {"hotp": [{"secret": good, "counter": 3}]}
    assert await admin(stack, "POST", f"{user(ids)}/import", json=again) == {
        "added": 1, "existing": 0}
    assert await admin(stack, "POST", f"{user(ids)}/import", json=again) == {
        "added": 0, "existing": 1}


async def test_one_token_over_the_cap_refuses_the_import(stack: Stack, ids: Ids) -> None:
    cap = stack.settings.device_caps["hotp"]
    tokens = [{"secret": pyotp.random_base32()} for _ in range(cap + 1)]
    res = await admin(stack, "POST", f"{user(ids)}/import", json={"hotp": tokens},
                      expected_status=409)
    assert res["errorCode"] == "ER-MFA-TOO-MANY-DEVICES"
    assert await stack.stores.devices.list_for_user(ids.tenant, ids.user) == []
    assert await admin(stack, "POST", f"{user(ids)}/import", json={"hotp": tokens[:cap]}) == {
        "added": cap, "existing": 0}


async def test_a_user_removes_their_token_with_one_of_its_codes(stack: Stack, ids: Ids) -> None:
    token, device_id = await import_token(stack, ids)
    bearer = stack.user_token(ids)
    await stack.post(f"{USERS}/authenticator/{device_id}/disable/verify",
                     {"token": wrong_code(token.at(0))}, token=bearer, expected_status=400)
    await stack.post(f"{USERS}/authenticator/{device_id}/disable/verify",
                     {"token": token.at(0)}, token=bearer)
    assert await stack.stores.devices.list_for_user(ids.tenant, ids.user) == []
    [row] = await audit_rows(stack, ids, "disable")
    assert row["factor"] == "hotp"


async def test_the_cli_imports_json_lines_and_resynchronises(stack: Stack, ids: Ids,
                                                             keys: dict[str, str],
                                                             tmp_path: Any) -> None:
    seed = base64.b32encode(b"\x03" * 20).decode()
    path = import_file(tmp_path, [{"tenantId": ids.tenant, "userId": ids.user,
                                   "hotp": [{"secret": seed, "counter": 100, "name": "Fob"}]}])
    out, _ = await cli(stack, keys, "import", path)
    assert json.loads(out.splitlines()[0])["added"] == 1 and seed not in out
    [device] = await stack.stores.devices.list_for_user(ids.tenant, ids.user, "hotp")
    assert (device.name, device.last_step) == ("Fob", 99)
    token = pyotp.HOTP(seed)
    out, _ = await cli(stack, keys, "resync", ids.tenant, ids.user, device.id, token.at(300),
                       token.at(301), "--reason", "drawer")
    assert json.loads(out) == {"counter": 302}
    _, err = await cli(stack, keys, "resync", ids.tenant, ids.user, device.id, token.at(300),
                       token.at(301), status=1)
    assert json.loads(err)["errorCode"] == "ER-MFA-HOTP-RESYNC-FAILED"
    await _verify(stack, ids, token.at(302))
