"""A redis-server of a test's own, on a free loopback port, that the test may kill and start
again (the shared Redis on 6379 is never touched)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import redis.asyncio as aioredis

from bench.procs import free_port
from tests.support.http import START_S


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
