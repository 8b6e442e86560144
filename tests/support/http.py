"""HTTP in tests: requests whose cookies matter (the remember-device cookie is HttpOnly and
Secure, so the test client's jar would not send it back over http: read it from the answer
instead), an in-process endpoint on a free port, waiting for a process to answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from aiohttp import web

from bench.procs import free_port
from tests.conftest import PREFIX, Stack

START_S = 20.0  # generous (shared machine); a timeout fails the test loudly


async def post_for_cookies(stack: Stack, path: str, body: dict[str, Any]
                           ) -> tuple[dict[str, Any], dict[str, str]]:
    """POST through the gateway expecting 200; (JSON body, the cookies it set)."""
    async with stack.http.post(stack.url + PREFIX + path, json=body) as r:
        assert r.status == 200, await r.text()
        return await r.json(), {k: m.value for k, m in r.cookies.items()}


async def remember_token(stack: Stack, path: str, body: dict[str, Any]) -> str:
    """The remember-device token a login answer set as its cookie (never in the body)."""
    answer, cookies = await post_for_cookies(stack, path, body)
    assert "rememberDeviceToken" not in answer, "the token belongs in the HttpOnly cookie only"
    return cookies[stack.settings.remember_cookie]


@asynccontextmanager
async def receiver(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                   ) -> AsyncIterator[str]:
    """An in-process HTTP endpoint on a free loopback port running `handler`; its URL."""
    app = web.Application()
    app.router.add_post("/hook", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/hook"
    finally:
        await runner.cleanup()


async def wait_http_ok(url: str, *, alive: Callable[[], str | None], what: str,
                       seconds: float = START_S) -> None:
    """Poll GET url until it answers 200; AssertionError when `alive()` reports the process
    gone (its message) or after `seconds`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    async with aiohttp.ClientSession() as http:
        while True:
            gone = alive()
            assert gone is None, gone
            try:
                async with http.get(url) as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            assert loop.time() < deadline, f"{what} never answered {url}"
            await asyncio.sleep(0.05)
