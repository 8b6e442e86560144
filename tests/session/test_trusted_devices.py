"""Trusted (remembered) devices: label, times and network; listed and revoked (one or all) by
the user; the token rotates on every use, and a rotated-out token presented again revokes the
whole chain and is audited."""

from __future__ import annotations

import asyncio
import json

import pytest

from shared.http.caller import device_label, network_of
from shared.mfa.remember import REUSE_GRACE
from tests.conftest import PREFIX, Ids, Stack
from tests.support.responses import assert_envelope
from tests.support.totp_flows import AUTH, code, enroll, login

TRUSTED = "/resources/users/v1/mfa/trusted-devices"
MAC_CHROME = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like "
              "Gecko) Chrome/131.0.0.0 Safari/537.36")
ANDROID_FIREFOX = "Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0"


async def remember(stack: Stack, ids: Ids, seed: str, user_agent: str = MAC_CHROME) -> str:
    """Log in with rememberDevice from a browser; the cookie's token."""
    body = {"mfaToken": await login(stack, ids), "value": code(stack, seed),
            "rememberDevice": True}
    async with stack.http.post(f"{stack.url}{PREFIX}{AUTH}/verify", json=body,
                               headers={"User-Agent": user_agent}) as r:
        assert r.status == 200, await r.text()
        token: str = r.cookies[stack.settings.remember_cookie].value
    stack.clock.advance(30)  # the next code is another step's
    return token


async def trusted_user(stack: Stack, ids: Ids) -> tuple[str, str]:
    await stack.set_policy(ids, allowRememberMyDevice=True, mfaDeviceExpiration=86400)
    seed, _ = await enroll(stack, ids)
    return seed, await remember(stack, ids, seed)


async def test_a_remembered_browser_is_listed_with_label_network_and_times(
        stack: Stack, ids: Ids) -> None:
    created = stack.clock.time() + 30  # enroll() moves the clock one step first
    await trusted_user(stack, ids)
    [d] = (await stack.get(TRUSTED, token=stack.user_token(ids)))["devices"]
    assert d["label"] == "Chrome on macOS" and d["network"] == "127.0.0.0/24"
    assert d["createdAt"] == d["lastUsedAt"] and d["id"]
    assert d["expiresAt"] > d["createdAt"]
    assert abs(created - stack.clock.time()) < 60


async def test_the_token_rotates_on_use_and_the_device_keeps_its_expiry(stack: Stack,
                                                                      ids: Ids) -> None:
    _, first = await trusted_user(stack, ids)
    [before] = (await stack.get(TRUSTED, token=stack.user_token(ids)))["devices"]
    stack.clock.advance(3600)
    start = await stack.start_session(ids, rememberDeviceToken=first, clientIp="203.0.113.9")
    assert start["mfaRequired"] is False and start["amr"] == ["mfa", "rmd"]
    second = start["rememberDeviceToken"]
    assert second and second != first
    assert start["rememberDeviceMaxAge"] == 86400 - 3600 - 30
    [after] = (await stack.get(TRUSTED, token=stack.user_token(ids)))["devices"]
    assert after["id"] == before["id"] and after["expiresAt"] == before["expiresAt"]
    assert after["createdAt"] == before["createdAt"] and after["lastUsedAt"] > before["lastUsedAt"]
    assert after["network"] == "203.0.113.0/24" and after["label"] == "Chrome on macOS"
    third = (await stack.start_session(ids, rememberDeviceToken=second))["rememberDeviceToken"]
    assert third not in (first, second)


async def test_a_rotated_out_token_revokes_the_chain_and_is_audited(stack: Stack,
                                                                   ids: Ids) -> None:
    seed, stolen = await trusted_user(stack, ids)
    other_browser = await remember(stack, ids, seed, ANDROID_FIREFOX)
    current = (await stack.start_session(ids, rememberDeviceToken=stolen))["rememberDeviceToken"]
    # The thief's copy (or the owner's, after the thief used it): two holders of one chain.
    stack.clock.advance(REUSE_GRACE)
    again = await stack.start_session(ids, rememberDeviceToken=stolen)
    assert again["mfaRequired"] is True and "rememberDeviceToken" not in again
    assert (await stack.start_session(ids, rememberDeviceToken=current))["mfaRequired"] is True
    rows = [r for r in await stack.stores.audit.for_user(ids.tenant, ids.user)
            if r["factor"] == "remember"]
    assert [(r["action"], r["outcome"]) for r in rows] == [("reuse", "refused")]
    assert json.loads(rows[0]["detail"]) == {"chainRevoked": 1}
    # Only that chain: the other browser is still trusted.
    [left] = (await stack.get(TRUSTED, token=stack.user_token(ids)))["devices"]
    assert left["label"] == "Firefox on Android"
    assert (await stack.start_session(ids, rememberDeviceToken=other_browser))[
        "mfaRequired"] is False


async def test_parallel_uses_of_one_token_rotate_it_once(stack: Stack, ids: Ids) -> None:
    _, token = await trusted_user(stack, ids)
    answers = await asyncio.gather(*(stack.start_session(ids, rememberDeviceToken=token)
                                     for _ in range(6)))
    winners = [a for a in answers if a["mfaRequired"] is False]
    assert len(winners) == 1
    # The losers were duplicates within REUSE_GRACE: nothing revoked, nothing audited.
    assert not [r for r in await stack.stores.audit.for_user(ids.tenant, ids.user)
                if r["factor"] == "remember"]
    follow = await stack.start_session(ids, rememberDeviceToken=winners[0]["rememberDeviceToken"])
    assert follow["mfaRequired"] is False


async def test_revoke_one_or_all(stack: Stack, ids: Ids) -> None:
    seed, mac = await trusted_user(stack, ids)
    android = await remember(stack, ids, seed, ANDROID_FIREFOX)
    token = stack.user_token(ids)
    listed = (await stack.get(TRUSTED, token=token))["devices"]
    assert {d["label"] for d in listed} == {"Chrome on macOS", "Firefox on Android"}
    mac_id = next(d["id"] for d in listed if d["label"] == "Chrome on macOS")
    other = ids.other()
    res = await stack.call("DELETE", f"{TRUSTED}/{mac_id}", token=stack.user_token(other),
                           expected_status=404)
    assert res["errorCode"] == "ER-MFA-UNKNOWN-DEVICE"
    assert_envelope(await stack.call("DELETE", f"{TRUSTED}/{mac_id}", expected_status=401))
    assert len((await stack.get(TRUSTED, token=token))["devices"]) == 2
    assert await stack.call("DELETE", f"{TRUSTED}/{mac_id}", token=token) == {}
    assert (await stack.start_session(ids, rememberDeviceToken=mac))["mfaRequired"] is True
    rotated = await stack.start_session(ids, rememberDeviceToken=android)
    assert rotated["mfaRequired"] is False
    assert await stack.call("DELETE", TRUSTED, token=token) == {}
    assert (await stack.get(TRUSTED, token=token))["devices"] == []
    again = await stack.start_session(ids, rememberDeviceToken=rotated["rememberDeviceToken"])
    assert again["mfaRequired"] is True
    actions = [r["action"] for r in await stack.stores.audit.for_user(ids.tenant, ids.user)
               if r["factor"] == "remember"]
    assert actions.count("remembered-revoke") == 2


@pytest.mark.parametrize("ua, label", [
    (MAC_CHROME, "Chrome on macOS"), (ANDROID_FIREFOX, "Firefox on Android"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
     "Gecko) Version/17.5 Mobile/15E148 Safari/604.1", "Safari on iOS"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", "Edge on Windows"),
    ("curl/8.5.0", "Unknown browser"), ("", "Unknown browser")])
def test_labels_from_user_agents(ua: str, label: str) -> None:
    assert device_label(ua) == label


def test_networks_not_addresses() -> None:
    assert network_of("198.51.100.77") == "198.51.100.0/24"
    assert network_of("2001:db8:1234:5678::1") == "2001:db8:1234::/48"
    assert network_of("not an address") == ""
