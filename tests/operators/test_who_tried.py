"""Who tried: every attempt's audit row carries the client's address (IPv6 per /64), the
User-Agent's label, the request and trace ids and the lock threshold; refused attempts are
grouped per user, factor, reason and minute; `explain-lockout` (CLI and admin API) answers the
ticket with the timeline. Both modes, through the gateway behind a trusted proxy."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any

import pytest

from services.operators.trail import render_explanation
from tests.conftest import Ids, Stack
from tests.support.codes import wrong_code
from tests.support.operator_access import cli
from tests.support.totp_flows import AUTH, LOCK_ENV, code, enrolled_user, login

MAC_CHROME = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
              "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36")
ANDROID_FIREFOX = "Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture
def extra_env() -> dict[str, str]:
    """Lock at 3 failures; the test's loopback is a trusted proxy, so the X-Forwarded-For the
    test sends is the client's address."""
    return {**LOCK_ENV, "MFA_TRUSTED_PROXIES": "127.0.0.0/8,::1"}


def _seconds(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _from(address: str, agent: str, **extra: str) -> dict[str, str]:
    return {"X-Forwarded-For": address, "User-Agent": agent, **extra}


async def _verify(stack: Stack, token: str, value: str, headers: dict[str, str],
                  status: int) -> Any:
    return await stack.post(f"{AUTH}/verify", {"mfaToken": token, "value": value},
                            headers=headers, expected_status=status)


async def _rows(stack: Stack, ids: Ids) -> list[dict[str, Any]]:
    return await stack.stores.db.fetch(
        "SELECT action, outcome, client_ip, user_agent, request_id, trace_id, lock_threshold, "
        "attempts, detail FROM audit_events WHERE tenant_id = $1 AND user_id = $2 "
        "AND factor = 'totp' ORDER BY at, id", ids.tenant, ids.user)


async def _lock_from_two_places(stack: Stack, ids: Ids, seed: str) -> None:
    """Two failures from an IPv4 address (one with a traceparent), the locking one from an
    IPv6 address, then five refused attempts while locked (a second apart, then at once)."""
    traced = _from("203.0.113.7", MAC_CHROME,
                   traceparent=f"00-{TRACE_ID}-00f067aa0ba902b7-01")
    for headers in (traced, _from("203.0.113.7", MAC_CHROME),
                    _from("2001:db8:aa:bb:1:2:3:4", ANDROID_FIREFOX)):
        stack.clock.advance(1)
        await _verify(stack, await login(stack, ids), wrong_code(code(stack, seed)), headers,
                      400)
    stack.clock.advance(1)
    for _ in range(5):
        res = await _verify(stack, await login(stack, ids), code(stack, seed),
                            _from("198.51.100.9", ANDROID_FIREFOX), 429)
        assert res["errorCode"] == "ER-MFA-LOCKED"


async def test_every_attempt_says_who_tried_and_refusals_are_grouped(stack: Stack,
                                                                     ids: Ids) -> None:
    seed = await enrolled_user(stack, ids)
    await _lock_from_two_places(stack, ids, seed)
    rows = await _rows(stack, ids)
    attempts = [r for r in rows if r["action"] in ("failure", "lockout", "refused")]
    assert [(r["action"], r["client_ip"], r["user_agent"]) for r in attempts] == [
        ("failure", "203.0.113.7", "Chrome on macOS"),
        ("failure", "203.0.113.7", "Chrome on macOS"),
        ("lockout", "2001:db8:aa:bb::/64", "Firefox on Android"),
        ("refused", "198.51.100.9", "Firefox on Android")]
    assert [r["trace_id"] for r in attempts] == [TRACE_ID, None, None, None]
    assert all(r["lock_threshold"] == 3 and r["request_id"] for r in attempts)
    refused = attempts[-1]
    # Five refusals, one row: written by the 1st, 2nd and 4th (powers of two), so it says 4.
    assert refused["attempts"] == 4
    assert json.loads(refused["detail"]) == {"reason": "locked", "error": "ER-MFA-LOCKED"}
    # The enrollment's success row (a logged-in request) says who too.
    [enrolled] = [r for r in rows if r["action"] == "enroll"] or [None]
    assert enrolled is None or enrolled["client_ip"]


async def test_parallel_refusals_make_one_row_with_their_count(stack: Stack, ids: Ids) -> None:
    seed = await enrolled_user(stack, ids)
    await _lock_from_two_places(stack, ids, seed)
    tokens = [await login(stack, ids) for _ in range(27)]
    await asyncio.gather(*(_verify(stack, t, code(stack, seed),
                                   _from("198.51.100.9", ANDROID_FIREFOX), 429) for t in tokens))
    [refused] = [r for r in await _rows(stack, ids) if r["action"] == "refused"]
    assert refused["attempts"] == 32  # 5 + 27: the 32nd wrote last (a power of two)


@pytest.mark.parametrize("extra_env", [{**LOCK_ENV, "MFA_TRUSTED_PROXIES": "127.0.0.0/8",
                                        "MFA_TOKEN_MAX_FAILURES": "2"}])
async def test_a_burned_mfa_token_is_recorded_as_refused(stack: Stack, ids: Ids) -> None:
    seed = await enrolled_user(stack, ids)
    token = await login(stack, ids)
    headers = _from("203.0.113.50", MAC_CHROME)
    for _ in range(2):  # the token's two attempts (the factor, at 3, stays unlocked)
        await _verify(stack, token, wrong_code(code(stack, seed)), headers, 400)
    res = await _verify(stack, token, code(stack, seed), headers, 401)
    assert res["errorCode"] == "ER-MFA-INVALID-MFA-TOKEN"
    [refused] = [r for r in await _rows(stack, ids) if r["action"] == "refused"]
    assert (refused["client_ip"], refused["user_agent"], refused["attempts"]) == (
        "203.0.113.50", "Chrome on macOS", 1)
    assert json.loads(refused["detail"])["reason"] == "burned"


async def test_explain_lockout_answers_the_ticket(stack: Stack, ids: Ids,
                                                  keys: dict[str, str]) -> None:
    seed = await enrolled_user(stack, ids)
    await _lock_from_two_places(stack, ids, seed)
    h = {"Authorization": f"Bearer {stack.settings.internal_api_key}"}
    url = (f"{stack.operators_url}/internal/v1/admin/tenants/{ids.tenant}/users/{ids.user}"
           "/lockout")
    async with stack.http.get(url, params={"factor": "totp"}, headers=h) as r:
        assert r.status == 200, await r.text()
        x = await r.json()
    [totp] = x["factors"]
    assert (totp["locked"], totp["failures"], totp["threshold"]) == (True, 3, 3)
    # The lock expires MFA_LOCKOUT_TTL (7 days) after the last attempt, or lifts by an unlock.
    lifts_in = _seconds(totp["liftsAt"]) - stack.clock.time()
    assert 7 * 86400 - 5 <= lifts_in <= 7 * 86400 + 5 and "unlock" in totp["lifts"]
    timeline = [(e["action"], e["clientIp"], e["userAgent"], e["count"]) for e in x["timeline"]
                if e["action"] != "enroll"]
    assert timeline == [("failure", "203.0.113.7", "Chrome on macOS", 1),
                        ("failure", "203.0.113.7", "Chrome on macOS", 1),
                        ("lockout", "2001:db8:aa:bb::/64", "Firefox on Android", 1),
                        ("refused", "198.51.100.9", "Firefox on Android", 4)]
    assert x["timeline"][0]["traceId"] == TRACE_ID
    text = render_explanation(x)
    assert "LOCKED after 3 consecutive failures; locks at 3" in text
    assert "2001:db8:aa:bb::/64" in text and "refused x4 (locked)" in text
    async with stack.http.get(url, params={"factor": "nope"}, headers=h) as r:
        assert r.status == 400
    # The same from a shell: the timeline is in the database in both modes (the lock state
    # itself lives in the embedded server's memory, out of a shell's reach).
    out, _ = await cli(stack, keys, "explain-lockout", ids.tenant, ids.user, "--factor",
                       "totp")
    assert "203.0.113.7" in out and "Chrome on macOS" in out and "refused x4" in out
    if stack.mode == "split":
        assert "LOCKED after 3 consecutive failures" in out
    out, _ = await cli(stack, keys, "explain-lockout", ids.tenant, ids.user, "--json")
    assert {f["factor"] for f in json.loads(out)["factors"]} >= {"totp", "sms", "recovery"}
    # No code, token or email in what support sees.
    assert ids.email not in out and code(stack, seed) not in out
