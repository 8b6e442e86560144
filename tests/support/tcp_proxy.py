"""A real TCP forwarder that tests can cut and restore, to put Redis or Postgres "down"."""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit, urlunsplit


def via(url: str, port: int) -> str:
    """The same URL (credentials, path) with its host and port replaced by 127.0.0.1:port,
    a proxy's."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host))


class TcpProxy:
    """Listens on a loopback port (or `listen_host`'s) and forwards to a target; stop() drops
    every connection."""

    def __init__(self, target_host: str, target_port: int, listen_port: int = 0,
                 listen_host: str = "127.0.0.1") -> None:
        self._target = (target_host, target_port)
        self.port = listen_port
        self.host = listen_host
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        """Start (or restart on the same port) forwarding."""
        self._server = await asyncio.start_server(self._handle, self.host, self.port,
                                                  reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and cut every open connection."""
        if self._server:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for w in list(self._writers):
            w.close()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_r, up_w = await asyncio.open_connection(*self._target)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_w}
        tasks = {asyncio.create_task(self._pipe(reader, up_w)),
                 asyncio.create_task(self._pipe(up_r, writer))}
        self._tasks |= tasks
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks -= tasks
        self._writers -= {writer, up_w}

    @staticmethod
    async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            with contextlib.suppress(Exception):
                dst.close()
