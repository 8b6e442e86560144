"""A redis-server of a test's own, on a free loopback port, that the test may kill and start
again (the shared Redis on 6379 is never touched)."""

from __future__ import annotations

import asyncio
import shutil
import socket
from collections.abc import Callable
from pathlib import Path

import aiohttp
import redis.asyncio as aioredis

START_S = 20.0  # generous (shared machine); a timeout fails the test loudly


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


class RedisServer:
    """One redis-server process; stop() kills it, start() brings it back on the same port."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self._dir = workdir
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        """redis://127.0.0.1:PORT/0"""
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        """Start the process and wait until it answers PING (fail loudly otherwise)."""
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed (scripts/services-up installs it)"
        self._proc = await asyncio.create_subprocess_exec(
            binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(self._dir),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        await self.wait_answering()

    async def wait_answering(self) -> None:
        """Poll PING until it answers; AssertionError after START_S."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_S
        while True:
            assert self._proc is not None and self._proc.returncode is None, "redis exited"
            r = aioredis.Redis.from_url(self.url, socket_connect_timeout=0.5)
            try:
                if await r.ping():
                    return
            except (OSError, aioredis.ConnectionError):
                pass
            finally:
                await r.aclose()
            assert loop.time() < deadline, f"redis-server on {self.port} never answered"
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        """Kill the process (no shutdown save: a crash, as in an outage) and reap it."""
        if self._proc is not None and self._proc.returncode is None:
            self._proc.kill()
            await self._proc.wait()
        self._proc = None
