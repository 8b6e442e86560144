"""End to end in headless Chromium: the demo page, served by the gateway at
http://localhost:<port>/mfa-demo/webauthn, runs navigator.credentials.create()/get() against a
CDP virtual authenticator and posts through the real routes, encoded as Frontegg's store does.

The origin the browser signs must be in MFA_WEBAUTHN_ORIGINS before any app is built, so the
gateway's socket is bound first (port 0) and handed to its test server; `stack` stays the
shared fixture, in both modes.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from tests.conftest import Ids, Stack
from tests.support.browser import chromium, loopback_socket, serving_on
from tests.support.webauthn_flows import AUTH

PAGE = "/mfa-demo/webauthn"
STEP_S = 30  # a hung ceremony fails the test instead of blocking the run


@pytest.fixture
def gateway_socket() -> Iterator[socket.socket]:
    """A loopback socket for the gateway, bound now so that its port is known now."""
    with loopback_socket() as s:
        yield s


@pytest.fixture
def origin(gateway_socket: socket.socket) -> str:
    """The page's origin: localhost (the RP id), never 127.0.0.1."""
    return f"http://localhost:{gateway_socket.getsockname()[1]}"


@pytest.fixture
def extra_env(origin: str) -> dict[str, str]:
    return {"MFA_WEBAUTHN_RP_ID": "localhost", "MFA_WEBAUTHN_ORIGINS": origin,
            "MFA_WEBAUTHN_DEMO": "true"}


@pytest.fixture
async def aiohttp_server(aiohttp_server: Callable[..., Awaitable[TestServer]],
                         gateway_socket: socket.socket
                         ) -> AsyncIterator[Callable[..., Awaitable[TestServer]]]:
    """The plugin's factory, except that the gateway serves on gateway_socket."""
    async with serving_on(aiohttp_server, gateway_socket, ("gateway",)) as go:
        yield go


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """Debian's Chromium through Playwright (tests/support/browser.py)."""
    async with chromium() as b:
        yield b


class Tab:
    """A tab with its own virtual authenticator (it belongs to the tab) on the demo page."""

    def __init__(self, page: Any, cdp: Any, authenticator_id: str) -> None:
        self.page, self.cdp, self.authenticator_id = page, cdp, authenticator_id

    async def run(self, expression: str, *args: Any) -> Any:
        """Evaluate in the page, bounded in time."""
        arg = list(args) if args else None
        return await asyncio.wait_for(self.page.evaluate(expression, arg), STEP_S)

    async def sign_counts(self) -> list[int]:
        """What the authenticator itself holds."""
        r = await self.cdp.send("WebAuthn.getCredentials",
                                {"authenticatorId": self.authenticator_id})
        return [c["signCount"] for c in r["credentials"]]


async def open_tab(browser: Any, origin: str, transport: str) -> Tab:
    """A fresh context and page at origin + PAGE with a ctap2 authenticator ("internal" is a
    platform authenticator, "usb" a security key) that verifies the user."""
    context = await browser.new_context()
    page = await context.new_page()
    cdp = await context.new_cdp_session(page)
    await cdp.send("WebAuthn.enable", {"enableUI": False})
    r = await cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": transport, "hasResidentKey": True,
        "hasUserVerification": True, "isUserVerified": True,
        "automaticPresenceSimulation": True}})
    await page.goto(origin + PAGE)
    await page.wait_for_function("typeof enrollForLogin === 'function'")
    return Tab(page, cdp, r["authenticatorId"])


async def _device(stack: Stack, ids: Ids) -> Any:
    devices = await stack.stores.devices.list_for_user(ids.tenant, ids.user, "webauthn")
    assert len(devices) == 1
    return devices[0]


async def test_login_box_enrolls_verifies_and_refuses_a_tampered_signature_in_chromium(
        stack: Stack, ids: Ids, browser: Any, origin: str) -> None:
    tab = await open_tab(browser, origin, "internal")
    first = await stack.start_session(ids)
    r = await tab.run("([t]) => enrollForLogin(t)", first["mfaToken"])
    assert r.get("status") == 200, r
    assert r["body"]["accessToken"] and r["body"]["recoveryCode"] == first["recoveryCode"]
    # Posted as Frontegg's store posts it: the credential's methods as {}.
    assert r["options"]["response"]["getTransports"] == {} and r["options"]["toJSON"] == {}
    device = await _device(stack, ids)
    assert device.data["deviceType"] == "Platform" and device.data["attachment"] == "platform"
    assert device.data["alg"] in (-8, -7)  # Chromium 156 takes Ed25519, offered first
    for _ in range(2):
        s = await stack.start_session(ids)
        assert s["mfaDevices"]["webauthn"][0]["id"] == device.id
        r = await tab.run("([t, d]) => verifyForLogin(t, d)", s["mfaToken"], device.id)
        assert r.get("status") == 200, r
        assert r["body"]["amr"] == ["mfa", "hwk"]
        stored = (await _device(stack, ids)).sign_count
        assert stored > 0 and await tab.sign_counts() == [stored]
    s = await stack.start_session(ids)
    r = await tab.run("([t, d]) => verifyForLogin(t, d, {tamperSignature: true})",
                      s["mfaToken"], device.id)
    assert r["status"] == 400 and r["body"]["errorCode"] == "ER-MFA-WEBAUTHN-FAILED", r
    # The authenticator counted the refused assertion, the server did not: still fine after.
    assert (await _device(stack, ids)).sign_count < (await tab.sign_counts())[0]
    r = await tab.run("([t, d]) => verifyForLogin(t, d)", s["mfaToken"], device.id)
    assert r["status"] == 200, r


async def test_profile_page_adds_and_removes_a_security_key_in_chromium(
        stack: Stack, ids: Ids, browser: Any, origin: str) -> None:
    tab = await open_tab(browser, origin, "usb")
    token = stack.user_token(ids)
    r = await tab.run("([a]) => enrollForUser(a)", token)
    assert r.get("status") == 200 and set(r["body"]) == {"recoveryCode"}, r
    device = await _device(stack, ids)
    assert device.data["deviceType"] == "CrossPlatform"
    again = await tab.run("([a]) => enrollForUser(a)", token)  # excludeCredentials holds it
    assert again["step"] == "create" and "InvalidStateError" in again["error"], again
    r = await tab.run("([a, d]) => disableForUser(a, d)", token, device.id)
    assert r.get("status") == 200 and r["body"] == {}, r
    assert await stack.stores.devices.list_for_user(ids.tenant, ids.user) == []


async def test_a_passkey_registers_and_logs_in_without_a_password_in_chromium(
        stack: Stack, ids: Ids, browser: Any, origin: str) -> None:
    """A platform authenticator with resident keys and user verification: Frontegg's passkey
    routes through the gateway, the login finding the user from the credential alone."""
    tab = await open_tab(browser, origin, "internal")
    await stack.start_session(ids)  # the host's session start records the user's email
    r = await tab.run("([a]) => registerPasskey(a)", stack.user_token(ids))
    assert r.get("status") == 200 and r["body"] == {}, r
    [passkey] = await stack.stores.devices.list_for_user(ids.tenant, ids.user, "passkey")
    assert passkey.data["deviceType"] == "Platform"
    for _ in range(2):
        r = await tab.run("([e]) => passkeyLogin(e)", "typed-by-anyone@example.test")
        assert r.get("status") == 200, r
        assert r["body"]["userId"] == ids.user and r["body"]["amr"] == ["pwd-less", "hwk"]
        assert r["sent"]["response"]["userHandle"] and "options" not in r["sent"]
        stored = (await stack.stores.devices.get(ids.tenant, ids.user, passkey.id))
        assert stored is not None and stored.sign_count == (await tab.sign_counts())[0]
    # Passkeys are listed apart from the MFA factors.
    assert await stack.stores.devices.list_for_user(ids.tenant, ids.user) == []


async def test_demo_page_keeps_its_script_apart_under_a_strict_csp(stack: Stack) -> None:
    async with stack.http.get(stack.url + PAGE) as r:
        assert r.status == 200 and r.content_type == "text/html"
        assert "script-src 'self'" in r.headers["Content-Security-Policy"]
        page = await r.text()
    assert "<script src=" in page and "enrollForLogin" not in page
    async with stack.http.get(stack.url + "/frontegg/identity" + PAGE + "/demo.js") as r:
        assert r.status == 200 and r.content_type == "text/javascript"
        assert f"AUTH = '{AUTH}'" in await r.text()
