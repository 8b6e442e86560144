"""rememberDevice: a token in an HttpOnly cookie (never in the body) where the policy allows
it, honoured by the next session start, revoked when the user's factors change."""

from __future__ import annotations

from typing import Any

from tests.conftest import Ids, Stack
from tests.support.totp_flows import AUTH, USERS, code, enroll, login


async def verify_raw(stack: Stack, body: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """POST /user/mfa/verify; (JSON body, Set-Cookie header)."""
    async with stack.http.post(f"{stack.url}/frontegg/identity{AUTH}/verify", json=body) as r:
        assert r.status == 200, await r.text()
        return await r.json(), r.headers.get("Set-Cookie", "")


async def remembered(stack: Stack, ids: Ids) -> tuple[str, str]:
    """Enroll, allow remembering, log in with rememberDevice; (token, seed)."""
    await stack.set_policy(ids, allowRememberMyDevice=True, mfaDeviceExpiration=86400)
    seed, _ = await enroll(stack, ids)
    body, cookie = await verify_raw(stack, {"mfaToken": await login(stack, ids),
                                            "value": code(stack, seed), "rememberDevice": True})
    assert "rememberDeviceToken" not in body
    token = cookie.split(f"{stack.settings.remember_cookie}=", 1)[1].split(";", 1)[0]
    assert token
    assert "HttpOnly" in cookie and "Max-Age=86400" in cookie
    return token, seed


async def test_remembered_device_skips_mfa_next_time(stack: Stack, ids: Ids) -> None:
    token, _ = await remembered(stack, ids)
    again = await stack.start_session(ids, rememberDeviceToken=token)
    assert again["mfaRequired"] is False and again["accessToken"]
    other = ids.other()
    await enroll(stack, other)
    assert (await stack.start_session(other, rememberDeviceToken=token))["mfaRequired"] is True


async def test_remember_refused_by_default_policy(stack: Stack, ids: Ids) -> None:
    seed, _ = await enroll(stack, ids)
    body, cookie = await verify_raw(stack, {"mfaToken": await login(stack, ids),
                                            "value": code(stack, seed), "rememberDevice": True})
    assert "rememberDeviceToken" not in body and cookie == ""


async def test_new_factor_revokes_remembered_devices(stack: Stack, ids: Ids) -> None:
    token, _ = await remembered(stack, ids)
    user = stack.user_token(ids)
    pre = await stack.post(f"{USERS}/authenticator/enroll", token=user)
    await stack.post(f"{USERS}/authenticator/enroll/verify",
                     {"token": code(stack, pre["secret"])}, token=user)
    assert (await stack.start_session(ids, rememberDeviceToken=token))["mfaRequired"] is True


async def test_disable_revokes_remembered_devices(stack: Stack, ids: Ids) -> None:
    token, seed = await remembered(stack, ids)
    stack.clock.advance(30)
    await stack.post(f"{USERS}/disable", {"token": code(stack, seed)},
                     token=stack.user_token(ids))
    assert (await stack.start_session(ids, rememberDeviceToken=token))["mfaRequired"] is True


async def test_enroll_verify_can_remember_the_device(stack: Stack, ids: Ids) -> None:
    await stack.set_policy(ids, allowRememberMyDevice=True, mfaDeviceExpiration=3600)
    start = await stack.start_session(ids)
    async with stack.http.post(f"{stack.url}/frontegg/identity{AUTH}/authenticator/enroll/verify",
                               json={"mfaToken": start["mfaToken"],
                                     "token": code(stack, start["secret"]),
                                     "rememberDevice": True}) as r:
        body = await r.json()
        assert r.status == 200 and "HttpOnly" in r.headers["Set-Cookie"]
        remembered_token = r.cookies[stack.settings.remember_cookie].value
    assert body["recoveryCode"] == start["recoveryCode"]
    assert "rememberDeviceToken" not in body
    again = await stack.start_session(ids, rememberDeviceToken=remembered_token)
    assert again["mfaRequired"] is False
