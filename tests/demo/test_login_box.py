"""Frontegg's own login box (@frontegg/admin-portal 5.79.0, built by the Makefile into
demo/box/dist/) in headless Chromium, served by the demo host (demo/host.py) in front of the
whole service, in embedded and in split mode.

The box is driven as a person would: the QR is read from a screenshot (zxing-cpp), never from
the network; codes are typed into the box; the recovery code is the one the box showed. The
clock is the stack's frozen clock, so "a later time step" is an advance of 30 s, not a wait.
"""

from __future__ import annotations

import io
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import pyotp
import pytest

from demo.host import BOX_DIR, user_id_for
from shared.clock import FrozenClock
from shared.mfa.challenges import InvalidChallenge
from tests.conftest import Ids, Stack, unavailable
from tests.support.browser import chromium
from tests.support.demo_host import start_host

STEP_MS = 30_000  # a screen that never comes fails the test instead of blocking the run
PASSWORD = "mfa-demo"


@pytest.fixture
def clock() -> FrozenClock:
    """The service's clock, two minutes behind the host's: a later time step is an advance
    of 30 s, and the tokens it signs then are still not from the host's future (the host
    refuses a token issued after its own now)."""
    return FrozenClock(time.time() - 120)


@pytest.fixture
def extra_env() -> dict[str, str]:
    """The tenant lets users remember a device (the box then shows its checkbox)."""
    return {"MFA_ALLOW_REMEMBER_DEVICE": "true"}


@pytest.fixture
async def host(stack: Stack, ids: Ids, aiohttp_server: Any) -> str:
    """The demo host serving the built box in front of the stack."""
    if not (BOX_DIR / "index.html").exists():
        unavailable("the login box bundle (make demo/box/dist/index.html)")
    return await start_host(stack, ids, aiohttp_server)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async with chromium() as b:
        yield b


@dataclass
class Box:
    """One browser (its own cookies) on the host's page, recording what would have left the
    machine and what the page threw."""

    page: Any
    outside: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    async def sign_in(self, email: str) -> None:
        """The host's password step, in the box's login form."""
        await self.page.fill("input[name=email]", email)
        await self.page.fill("input[name=password]", PASSWORD)
        await self.page.click("button:has-text('Login')")

    async def read_qr(self) -> str:
        """The otpauth URI of the QR the box shows, read from a screenshot of it."""
        import zxingcpp
        from PIL import Image

        qr = self.page.locator("img[src^='data:image']")
        await qr.wait_for()
        found = zxingcpp.read_barcodes(Image.open(io.BytesIO(await qr.screenshot())))
        assert len(found) == 1, found
        return str(found[0].text)

    async def type_code(self, code: str) -> None:
        """Six digits into the box's six code inputs, emptied first (the box moves the focus
        itself, and sends the code as soon as the sixth digit is in)."""
        inputs = self.page.locator("[data-test-id=mfa-code-input] input")
        await inputs.nth(5).wait_for()
        assert await inputs.count() == 6
        for i in reversed(range(6)):
            await inputs.nth(i).fill("")
        await inputs.first.click()
        await self.page.keyboard.type(code)

    async def signed_in_as(self) -> str:
        """The host's signed-in page: only reached once the host verified the token."""
        await self.page.wait_for_url("**/signed-in")
        panel = self.page.locator("#signed-in")
        await panel.locator("text=Signed in as").wait_for()
        return str(await panel.inner_text())


@pytest.fixture
async def open_box(browser: Any, host: str) -> AsyncIterator[Any]:
    """Opens a fresh browser context on the host's page; at the end, no request may have
    left the machine, and no page may have thrown."""
    boxes: list[Box] = []

    async def go() -> Box:
        context = await browser.new_context()
        context.set_default_timeout(STEP_MS)
        page = await context.new_page()
        box = Box(page)

        async def route(r: Any) -> None:
            if r.request.url.startswith(host + "/"):
                await r.continue_()
            else:  # the host's CSP should have stopped it before the network
                box.outside.append(r.request.url)
                await r.abort()

        await page.route("**/*", route)
        page.on("pageerror", lambda e: box.errors.append(str(e)))
        await page.goto(host + "/")
        # Ready: the password field shows once the box has the host's login strategy.
        await page.locator("input[name=password]").wait_for()
        boxes.append(box)
        return box

    yield go
    for box in boxes:
        assert box.outside == [] and box.errors == [], (box.outside, box.errors)
        await box.page.context.close()


def _secret(uri: str, email: str) -> str:
    url = urlparse(uri)
    assert url.scheme == "otpauth" and url.netloc == "totp", uri
    assert unquote(url.path).endswith(":" + email), uri
    return parse_qs(url.query)["secret"][0]


def _code(secret: str, clock: FrozenClock, steps: int = 0) -> str:
    return str(pyotp.TOTP(secret).at(clock.time() + 30 * steps))


def _wrong_code(secret: str, clock: FrozenClock) -> str:
    """A code no step near now accepts."""
    near = {_code(secret, clock, s) for s in range(-3, 4)}
    return next(c for c in ("000000", "111111", "222222") if c not in near)


RECOVERY = re.compile(r"^[A-Z2-7]{5}(-[A-Z2-7]{5}){3}$")


async def test_the_login_box_enrolls_signs_in_remembers_and_recovers(
        stack: Stack, ids: Ids, clock: FrozenClock, open_box: Any) -> None:
    email = f"ada-{uuid.uuid4().hex[:8]}@example.test"

    # A new user: forced enrollment from the QR, then the recovery code, then signed in.
    first = await open_box()
    await first.sign_in(email)
    secret = _secret(await first.read_qr(), email)
    await first.page.fill("input[name=token]", _code(secret, clock))
    await first.page.click("button[type=submit]")
    shown = first.page.locator("input[disabled]")
    await shown.wait_for()
    recovery = await shown.input_value()
    assert RECOVERY.match(recovery), recovery
    await first.page.click("button:has-text('Continue')")
    panel = await first.signed_in_as()
    assert email in panel and "mfa, otp" in panel and stack.settings.jwt_key_id in panel
    await first.page.reload()  # the host's session: still signed in, no second factor asked
    assert email in await first.signed_in_as()

    # A fresh browser: the code screen; a wrong code shows the server's error and stays.
    second = await open_box()
    await second.sign_in(email)
    await second.type_code(_wrong_code(secret, clock))  # six digits: the box sends them
    await second.page.locator(f"text={InvalidChallenge.default_message}").wait_for()
    assert "/signed-in" not in second.page.url
    assert await second.page.locator("[data-test-id=mfa-code-input] input").count() == 6
    assert await second.page.locator("img[src^='data:image']").count() == 0  # no QR here
    # The right code of a later step (the enrollment's step is spent), remembering the device.
    clock.advance(30)
    await second.page.check("input[name=rememberDevice]")
    await second.type_code(_code(secret, clock))
    assert "mfa, otp" in await second.signed_in_as()
    cookies = {c["name"]: c for c in await second.page.context.cookies()}
    remember = cookies[stack.settings.remember_cookie]
    assert remember["httpOnly"] and remember["secure"]

    # The remembered device: signed out, then in again with the password alone.
    await second.page.click("#signed-in >> text=Sign out")
    await second.page.locator("input[name=password]").wait_for()
    await second.sign_in(email)
    assert "mfa, rmd" in await second.signed_in_as()
    rotated = {c["name"]: c["value"] for c in await second.page.context.cookies()}
    assert rotated[stack.settings.remember_cookie] != remember["value"]

    # A third browser: "Having trouble?" and the recovery code the first screen showed.
    third = await open_box()
    await third.sign_in(email)
    await third.page.click("[data-test-id=disableMfaClickHereButton]")
    await third.page.fill("[data-test-id=mfa-code-input] input", recovery)
    await third.page.click("button[type=submit]")
    await third.page.locator("input[name=email]").wait_for()
    assert await stack.stores.devices.list_for_user(ids.tenant, user_id_for(email)) == []
    # Enrollment is asked again, with a new seed and a new recovery code.
    await third.sign_in(email)
    again = _secret(await third.read_qr(), email)
    assert again != secret
    await third.page.fill("input[name=token]", _code(again, clock))
    await third.page.click("button[type=submit]")
    shown = third.page.locator("input[disabled]")
    await shown.wait_for()
    assert RECOVERY.match(await shown.input_value())
    assert await shown.input_value() != recovery
