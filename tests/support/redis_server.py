"""A redis-server of a test's own, on a free loopback port, that the test may kill and start
again (the shared Redis on 6379 is never touched)."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
from pathlib import Path

import redis.asyncio as aioredis


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """One redis-server process; stop() kills it, start() brings it back on the same port."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self._dir = workdir
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """redis://127.0.0.1:PORT/0"""
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self, timeout: float = 20.0) -> None:
        """Start the process and wait until it answers PING (fail loudly otherwise)."""
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed (scripts/services-up installs it)"
        self._proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self._dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        await self.wait_answering(timeout)

    async def wait_answering(self, timeout: float) -> None:
        """Poll PING until it answers; AssertionError after the timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            assert self._proc is not None and self._proc.poll() is None, "redis-server exited"
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

    def stop(self) -> None:
        """Kill the process (no shutdown save: a crash, as in an outage) and reap it."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(10)
        self._proc = None
