"""A real gateway process for the shutdown tests, and a bare HTTP/1.1 keep-alive connection
whose reuse the test controls (an aiohttp client would pick its own connection)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping

from bench.procs import free_port
from tests.support.http import wait_http_ok

STARTUP_S = 30.0  # generous: the machine is shared; a timeout fails the test loudly


class PartProcess:
    """`python -m <module>` (the gateway or a service) on a free port."""

    def __init__(self, env: Mapping[str, str], module: str = "gateway") -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.module = module
        self._env = {**os.environ, **env, "MFA_PORT": str(self.port)}
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, **streams: int) -> None:
        """Start it and wait until /readyz is 200 (AssertionError on timeout or exit)."""
        self.proc = await asyncio.create_subprocess_exec(sys.executable, "-m", self.module,
                                                         env=self._env, **streams)
        proc = self.proc
        await wait_http_ok(self.base + "/readyz", what=self.module, seconds=STARTUP_S,
                           alive=lambda: None if proc.returncode is None
                           else f"{self.module} exited {proc.returncode}")

    async def wait_exit(self) -> int:
        """The exit status (AssertionError when it does not exit in time)."""
        assert self.proc is not None
        try:
            return await asyncio.wait_for(self.proc.wait(), STARTUP_S)
        except TimeoutError:
            raise AssertionError(f"{self.module} did not exit after its drain") from None

    async def kill(self) -> None:
        """Kill it if it still runs (test clean-up)."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


class GatewayProcess(PartProcess):
    """`python -m gateway` on a free port in front of the given upstreams."""

    async def wait_listener_closed(self) -> None:
        """Wait until a new connection is refused: the gateway has begun its drain."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STARTUP_S
        while True:
            try:
                _, w = await asyncio.open_connection("127.0.0.1", self.port)
                w.close()
            except ConnectionRefusedError:
                return
            except ConnectionResetError:
                pass  # caught in the backlog as the listener closed: look once more
            assert loop.time() < deadline, "the gateway kept listening after SIGTERM"
            await asyncio.sleep(0.05)


class Conn:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Conn:
        """Connect to 127.0.0.1:port."""
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def get(self, path: str) -> tuple[int, dict[str, str], bytes]:
        """Send a GET, read the whole answer: status, headers (lower-case names), body."""
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: gateway\r\n\r\n".encode())
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip()
                   for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        return status, headers, body

    async def closed_by_peer(self) -> bool:
        """True when the server closed the connection (EOF)."""
        return await self.reader.read(1) == b""

    def close(self) -> None:
        """Close our end."""
        self.writer.close()
