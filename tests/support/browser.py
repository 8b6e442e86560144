"""Debian's Chromium through Playwright, for the browser tests (never `playwright install`:
scripts/ensure-chromium installs the browser from Debian's packages)."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from shared.http.web import SERVICE
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


def loopback_socket() -> socket.socket:
    """A loopback TCP socket bound now (its port known before the server starts), for a page
    the browser opens at localhost (a secure context for Secure cookies and WebAuthn)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    return s


@asynccontextmanager
async def serving_on(factory: Callable[..., Awaitable[TestServer]], sock: socket.socket,
                     services: tuple[str, ...]
                     ) -> AsyncIterator[Callable[..., Awaitable[TestServer]]]:
    """pytest-aiohttp's server factory, except that the first app of one of `services` (its
    SERVICE name) serves on `sock`; the others as usual."""
    mine: list[TestServer] = []

    async def go(app: web.Application, **kw: Any) -> TestServer:
        if mine or app.get(SERVICE) not in services:
            return await factory(app, **kw)
        server = TestServer(app, socket_factory=lambda *_: sock)
        await server.start_server(**kw)
        mine.append(server)
        return server

    try:
        yield go
    finally:
        for server in mine:
            await server.close()
