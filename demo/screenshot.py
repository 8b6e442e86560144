"""The README's picture: the login box's QR screen, as `make demo` serves it.

    make demo &    # then:
    .venv/bin/python -m demo.screenshot http://localhost:8090/ docs/login-box-qr.png

Signs in a new user (a fresh email each time) in headless Chromium (Debian's, as the browser
tests use it) and saves the forced-enrollment screen, cropped to the box.
"""

from __future__ import annotations

import asyncio
import sys
import uuid

from demo.host import DEMO_PASSWORD

FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


async def shoot(url: str, out: str) -> None:
    """Open the box, sign in as a new user, save the QR screen."""
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                          args=FLAGS)
        page = await browser.new_page(viewport={"width": 1000, "height": 860})
        await page.goto(url)
        await page.fill("input[name=email]", f"ada-{uuid.uuid4().hex[:6]}@example.com")
        await page.fill("input[name=password]", DEMO_PASSWORD)
        await page.click("button:has-text('Login')")
        await page.locator("img[src^='data:image']").wait_for()
        await page.wait_for_timeout(500)  # the box's fade-in
        await page.screenshot(path=out, clip={"x": 250, "y": 0, "width": 500, "height": 860})
        await browser.close()


if __name__ == "__main__":
    asyncio.run(shoot(sys.argv[1], sys.argv[2]))
