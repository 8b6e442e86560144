"""The support console in headless Chromium, both modes (embedded through the gateway, split
on the operators service as a port-forward reaches it): sign in at the stand-in identity
provider, find a user locked after wrong codes, see why, unlock with a reason by keyboard, the
user logs in again; the read-only role sees no action; a form posted without its CSRF token is
refused; markup in an id stays text; the pages reflow at 200 % zoom and break no CSP rule.
Screenshots of each page land in var/test-artifacts/console/<mode>/ (MFA_TEST_ARTIFACTS)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Ids, Stack
from tests.support.browser import artifacts, chromium
from tests.support.records import audit_rows
from tests.support.totp_flows import AUTH, code, enrolled_user, lock_totp, login

TIMEOUT_MS = 15_000


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """Debian's Chromium through Playwright."""
    async with chromium() as b:
        yield b


@pytest.fixture
def shots(stack: Stack) -> Path:
    """This mode's screenshot folder."""
    return artifacts("console", stack.mode)


class Tab:
    """A browser context's page, collecting CSP violations and dialogs (none may happen)."""

    def __init__(self, page: Any, shots: Path) -> None:
        self.page, self.shots = page, shots
        self.violations: list[str] = []
        self.dialogs: list[str] = []
        page.on("console", lambda m: self.violations.append(m.text)
                if "Content Security Policy" in m.text else None)
        page.on("dialog", lambda d: self.dialogs.append(d.message))
        page.set_default_timeout(TIMEOUT_MS)

    async def shot(self, name: str) -> None:
        await self.page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)

    async def sign_in(self, console_url: str, person: str) -> None:
        """From the console's front door, through the provider's page, back signed in."""
        await self.page.goto(console_url + "/")
        await self.page.wait_for_url("**/internal/console/signin")
        await self.page.get_by_role("link", name="Sign in with").click()
        await self.page.get_by_role("button", name=f"Sign in as {person}").click()
        await self.page.wait_for_url(console_url + "/")  # the same-site hop's refresh
        await self.page.get_by_role("heading", name="Find a user").wait_for()

    async def tab_to(self, name: str, limit: int = 80) -> None:
        """Press Tab until the focused element's text is `name` (keyboard use)."""
        for _ in range(limit):
            await self.page.keyboard.press("Tab")
            focused = await self.page.evaluate("document.activeElement.textContent.trim()")
            if focused == name:
                return
        raise AssertionError(f"{name!r} is not reachable with Tab")


async def open_tab(browser: Any, shots: Path) -> Tab:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    return Tab(await context.new_page(), shots)


async def test_support_finds_a_locked_user_sees_why_and_unlocks_them_by_keyboard(
        stack: Stack, ids: Ids, browser: Any, console_url: str, shots: Path) -> None:
    await stack.start_session(ids)
    seed = await enrolled_user(stack, ids, remembered=True)
    for _ in range(3):  # a second apart, as a person types them
        stack.clock.advance(1)
        await lock_totp(stack, ids, seed, times=1)
    admin = await open_tab(browser, shots)
    await admin.page.goto(console_url + "/")
    await admin.shot("1-sign-in")
    await admin.sign_in(console_url, "bob")
    await admin.shot("2-find-a-user")
    page = admin.page
    await page.locator("#tenant").fill(ids.tenant)
    await page.get_by_label("email", exact=True).check()
    await page.locator("#q").fill(ids.email)
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/internal/console/user?**")
    alert = await page.get_by_role("alert").inner_text()
    assert "Locked out: Authenticator app / Hardware token (3 wrong tries in a row)" in alert
    timeline = await page.locator("#timeline + .scroll").inner_text()
    assert timeline.count("failure") == 2 and "lockout" in timeline  # the third locked it
    assert "consecutive: 3" in timeline
    await admin.shot("3-user-locked")

    await admin.tab_to("Unlock Authenticator app / Hardware token")
    await page.keyboard.press("Enter")
    await page.get_by_role("heading", name="Confirm: Unlock Authenticator app / Hardware "
                           "token").wait_for()
    await page.locator("#reason").fill("ticket 4711: locked out after a new phone")
    await admin.shot("4-confirm-unlock")
    await page.keyboard.press("Tab")  # to the confirmation
    await page.keyboard.press("Space")
    await page.keyboard.press("Tab")  # to the button
    await page.keyboard.press("Enter")
    await page.get_by_role("status").filter(has_text="Unlocked.").wait_for()
    assert await page.get_by_role("alert").count() == 0
    await admin.shot("5-user-unlocked")
    [row] = await audit_rows(stack, ids, "unlock")
    assert "ticket 4711" in row["detail"] and "console:sub-bob" in row["detail"]
    # The user logs in again.
    done = await stack.post(f"{AUTH}/verify", {"mfaToken": await login(stack, ids),
                                              "value": code(stack, seed)})
    assert done["accessToken"]

    # 200 % zoom of a 1280-pixel window: 640 CSS pixels, and nothing scrolls sideways.
    await page.set_viewport_size({"width": 640, "height": 450})
    assert await page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    await admin.shot("6-user-at-200-percent")
    await page.set_viewport_size({"width": 1280, "height": 900})

    # A form whose CSRF token is gone is refused, and nothing changes.
    await page.goto(f"{console_url}/confirm?tenant={ids.tenant}&user={ids.user}&action=reset")
    await page.evaluate(
        """document.querySelector('form[action$="/act"] input[name=csrf]').remove()""")
    await page.locator("#reason").fill("forged")
    await page.get_by_role("checkbox").check()
    await page.get_by_role("button", name="Reset MFA").click()
    await page.get_by_role("heading", name="Not allowed").wait_for()
    assert "CSRF token is missing" in await page.get_by_role("alert").inner_text()
    await admin.shot("7-refused-without-csrf")
    assert len(await stack.stores.devices.list_for_user(ids.tenant, ids.user)) == 1

    await page.goto(f"{console_url}/policy?tenant={ids.tenant}")
    await admin.shot("8-tenant-policy")
    assert admin.violations == [] and admin.dialogs == []

    # The read-only role: the same pages, no action.
    support = await open_tab(browser, shots)
    await support.sign_in(console_url, "ann")
    await support.page.goto(f"{console_url}/user?tenant={ids.tenant}&user={ids.user}")
    for name in ("Unlock", "Remove", "Reset", "Revoke"):
        assert await support.page.get_by_role("link", name=name).count() == 0, name
    assert await support.page.locator("form").count() == 1  # signing out
    await support.shot("9-user-read-only")
    await support.page.goto(f"{console_url}/policy?tenant={ids.tenant}")
    assert await support.page.get_by_role("button", name="Save").count() == 0
    await support.shot("10-tenant-policy-read-only")
    assert support.violations == []


async def test_markup_in_a_user_id_stays_text_in_the_browser(
        stack: Stack, browser: Any, console_url: str, shots: Path) -> None:
    ids = Ids(user='<img src=x onerror="alert(document.domain)">')
    await stack.start_session(ids, email="markup@example.test")
    tab = await open_tab(browser, shots)
    await tab.sign_in(console_url, "ann")
    await tab.page.locator("#tenant").fill(ids.tenant)
    await tab.page.locator("#q").fill(ids.user)
    await tab.page.keyboard.press("Enter")
    await tab.page.wait_for_url("**/internal/console/user?**")
    heading = tab.page.get_by_role("heading", level=1)
    assert await heading.inner_text() == f"User {ids.user}"
    assert await tab.page.locator("main img").count() == 0
    await tab.shot("11-markup-in-a-user-id")
    assert tab.dialogs == [] and tab.violations == []
