"""Debian's Chromium through Playwright, for the browser tests (never `playwright install`:
scripts/ensure-chromium installs the browser from Debian's packages)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from tests.conftest import unavailable

CHROMIUM = "/usr/bin/chromium"
# The flags Chromium needs here (the machine's network is closed: no background requests);
# Playwright adds --headless and its own fresh --user-data-dir.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    """A headless Chromium, closed afterwards; unavailable (a failure under
    MFA_TEST_STRICT=1) when Chromium or Playwright is missing."""
    if not os.access(CHROMIUM, os.X_OK):
        unavailable(f"Chromium at {CHROMIUM} (scripts/ensure-chromium)")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        unavailable("Python Playwright")
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            yield browser
        finally:
            await browser.close()


# What browser tests saw (screenshots), for people to look at: MFA_TEST_ARTIFACTS, else
# var/test-artifacts (ignored by git).
ARTIFACTS = Path(os.environ.get("MFA_TEST_ARTIFACTS", "var/test-artifacts"))


def artifacts(*parts: str) -> Path:
    """A folder under ARTIFACTS, made."""
    path = ARTIFACTS.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
