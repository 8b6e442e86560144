"""Asyncio wrapper that drives Frontegg's real JavaScript client (@frontegg/rest-api) from tests."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

JS_DIR: Path = Path(__file__).resolve().parent / "js"
DRIVER_PATH: Path = JS_DIR / "driver.mjs"
CLIENT_PACKAGE_JSON: Path = JS_DIR / "node_modules" / "@frontegg" / "rest-api" / "package.json"
INSTALL_COMMAND: str = "npm ci --prefix tests/contract/js"

_STREAM_LIMIT = 16 * 1024 * 1024
_STARTUP_TIMEOUT = 30.0
_REPLY_GRACE = 5.0
_CLOSE_TIMEOUT = 2.0
_STDERR_LINES = 200


class FronteggHarnessError(RuntimeError):
    """The harness failed: node or the client is missing, the driver died or a call was bad."""


class FronteggApiError(Exception):
    """A call to the real client rejected; carries the fields of the client's FronteggApiError."""

    def __init__(
        self,
        message: str,
        *,
        name: str = "FronteggApiError",
        status_code: int | None = None,
        error_code: str | None = None,
        errors: list[Any] | None = None,
        error_codes: list[Any] | None = None,
        error_context: dict[str, Any] | None = None,
        trace_id: str | None = None,
        cause: str | None = None,
    ) -> None:
        """Store the JS error's fields; name is the JS class (FronteggApiError, TypeError...)."""
        super().__init__(message)
        self.message: str = message
        self.name: str = name
        self.status_code: int | None = status_code
        self.error_code: str | None = error_code
        self.errors: list[Any] | None = errors
        self.error_codes: list[Any] | None = error_codes
        self.error_context: dict[str, Any] | None = error_context
        self.trace_id: str | None = trace_id
        self.cause: str | None = cause

    @classmethod
    def from_json(cls, error: Mapping[str, Any]) -> FronteggApiError:
        """Build the exception from the driver's error object."""
        return cls(
            str(error.get("message") or ""),
            name=str(error.get("name") or "Error"),
            status_code=error.get("statusCode"),
            error_code=error.get("errorCode"),
            errors=error.get("errors"),
            error_codes=error.get("errorCodes"),
            error_context=error.get("errorContext"),
            trace_id=error.get("traceId"),
            cause=error.get("cause"),
        )

    def __str__(self) -> str:
        """Render name, status, error code and message."""
        parts = [self.name]
        if self.status_code is not None:
            parts.append(str(self.status_code))
        if self.error_code:
            parts.append(self.error_code)
        text = f"{' '.join(parts)}: {self.message}"
        return f"{text} (cause: {self.cause})" if self.cause else text

    def __repr__(self) -> str:
        """Show every field that identifies the error."""
        return (
            f"FronteggApiError(message={self.message!r}, name={self.name!r}, "
            f"status_code={self.status_code!r}, error_code={self.error_code!r}, "
            f"errors={self.errors!r})"
        )


def client_installed() -> bool:
    """Return True when the pinned @frontegg/rest-api is installed under tests/contract/js."""
    return CLIENT_PACKAGE_JSON.is_file()


class FronteggClient:
    """A long-lived Node process running Frontegg's real client against one server."""

    def __init__(
        self,
        base_url: str,
        url_prefix: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        skip_user_loading: bool = True,
        location_search: str = "",
        request_source: str | None = None,
        app_id: str | None = None,
        timeout: float = 30.0,
        node: str = "node",
    ) -> None:
        """Configure the client context; headers are sent on every call, timeout is per call."""
        self.base_url: str = base_url
        self.url_prefix: str | None = url_prefix
        self.headers: dict[str, str] = dict(headers or {})
        self.skip_user_loading: bool = skip_user_loading
        self.location_search: str = location_search
        self.request_source: str | None = request_source
        self.app_id: str | None = app_id
        self.timeout: float = timeout
        self.node: str = node
        self.client_version: str | None = None
        self.groups: list[str] = []
        self._proc: asyncio.subprocess.Process | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._write_lock = asyncio.Lock()
        self._stdout_task: asyncio.Task[None] | None = None
        self._stderr_task: asyncio.Task[None] | None = None
        self._stderr: deque[str] = deque(maxlen=_STDERR_LINES)
        self._dead: str | None = None

    async def __aenter__(self) -> Self:
        """Start the driver process."""
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the driver process."""
        await self.close()

    @property
    def stderr_lines(self) -> list[str]:
        """Return the last lines the driver (and the client's console) wrote to stderr."""
        return list(self._stderr)

    async def start(self) -> None:
        """Spawn node with the driver, send the config line and wait for the ready line."""
        if self._proc is not None:
            raise FronteggHarnessError("FronteggClient already started")
        node = shutil.which(self.node)
        if node is None:
            raise FronteggHarnessError(f"Node.js executable {self.node!r} not found on PATH")
        if not client_installed():
            raise FronteggHarnessError(
                f"@frontegg/rest-api is not installed in {JS_DIR}; run `{INSTALL_COMMAND}` "
                "from the repository root first"
            )
        self._proc = await asyncio.create_subprocess_exec(
            node,
            str(DRIVER_PATH),
            cwd=str(JS_DIR),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=_STREAM_LIMIT,
            env={**os.environ, "NO_COLOR": "1"},
        )
        self._stderr_task = asyncio.create_task(self._read_stderr())
        config: dict[str, Any] = {
            "baseUrl": self.base_url,
            "urlPrefix": self.url_prefix,
            "headers": self.headers,
            "skipUserLoading": self.skip_user_loading,
            "locationSearch": self.location_search,
            "requestSource": self.request_source,
            "appId": self.app_id,
            "timeoutMs": int(self.timeout * 1000),
        }
        try:
            await self._write_line(config)
            ready = await asyncio.wait_for(self._read_ready(), _STARTUP_TIMEOUT)
        except BaseException:
            await self.close()
            raise
        self.client_version = ready.get("clientVersion")
        self.groups = list(ready.get("groups") or [])
        self._stdout_task = asyncio.create_task(self._read_stdout())

    async def call(
        self,
        fn: str,
        *args: Any,
        access_token: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - forwarded to the Node driver
    ) -> Any:
        """Call createApiClient('default')[group][name](*args) for fn "group.name"; return it."""
        if self._proc is None or self._stdout_task is None:
            raise FronteggHarnessError("FronteggClient is not started (use `async with`)")
        if self._dead is not None:
            raise FronteggHarnessError(self._dead)
        call_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[call_id] = future
        call_timeout = self.timeout if timeout is None else timeout
        request = {
            "id": call_id,
            "fn": fn,
            "args": list(args),
            "accessToken": access_token,
            "headers": dict(headers or {}),
            "timeoutMs": int(call_timeout * 1000),
        }
        limit = call_timeout + _REPLY_GRACE
        try:
            await self._write_line(request)
            reply = await asyncio.wait_for(future, limit)
        except TimeoutError as exc:
            message = f"no reply from the driver for {fn} within {limit} s"
            raise FronteggHarnessError(message) from exc
        finally:
            self._pending.pop(call_id, None)
        if reply.get("ok"):
            return reply.get("value")
        error = reply.get("error") or {}
        if error.get("harness"):
            raise FronteggHarnessError(f"{fn}: {error.get('message')}")
        raise FronteggApiError.from_json(error)

    async def close(self) -> None:
        """Close stdin, give node a moment to exit, then kill it."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.stdin is not None and not proc.stdin.is_closing():
                proc.stdin.close()
            if proc.returncode is None:
                try:
                    await asyncio.wait_for(proc.wait(), _CLOSE_TIMEOUT)
                except TimeoutError:
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
                    await proc.wait()
        for task in (self._stdout_task, self._stderr_task):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._stdout_task = self._stderr_task = None
        self._fail_pending("FronteggClient closed")

    async def _write_line(self, obj: Mapping[str, Any]) -> None:
        """Write one JSON line to the driver's stdin."""
        proc = self._proc
        if proc is None or proc.stdin is None:
            raise FronteggHarnessError("driver process is not running")
        data = (json.dumps(obj, separators=(",", ":")) + "\n").encode()
        async with self._write_lock:
            try:
                proc.stdin.write(data)
                await proc.stdin.drain()
            except (BrokenPipeError, ConnectionResetError) as exc:
                message = self._death_message("driver stdin closed", proc)
                raise FronteggHarnessError(message) from exc

    async def _read_ready(self) -> dict[str, Any]:
        """Read stdout until the driver's ready line."""
        assert self._proc is not None and self._proc.stdout is not None
        while True:
            line = await self._proc.stdout.readline()
            if not line:
                await self._proc.wait()
                await self._drain_stderr()
                raise FronteggHarnessError(
                    self._death_message("driver exited during startup", self._proc)
                )
            message = self._parse(line)
            if message is None or "ready" not in message:
                continue
            if not message["ready"]:
                error = message.get("error") or {}
                raise FronteggHarnessError(f"driver rejected the config: {error.get('message')}")
            return message

    async def _read_stdout(self) -> None:
        """Dispatch reply lines to the waiting calls until the driver exits."""
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        while True:
            line = await proc.stdout.readline()
            if not line:
                break
            message = self._parse(line)
            if message is None:
                continue
            call_id = message.get("id")
            future = self._pending.get(call_id) if isinstance(call_id, int) else None
            if future is not None and not future.done():
                future.set_result(message)
            elif message.get("id") is None and not message.get("ok", True):
                self._stderr.append(f"[harness] unroutable error: {message.get('error')}")
        await proc.wait()
        await self._drain_stderr()
        self._dead = self._death_message("driver exited", proc)
        self._fail_pending(self._dead)

    async def _read_stderr(self) -> None:
        """Keep the last stderr lines so failures can show them."""
        assert self._proc is not None and self._proc.stderr is not None
        stream = self._proc.stderr
        while True:
            line = await stream.readline()
            if not line:
                return
            self._stderr.append(line.decode(errors="replace").rstrip("\n"))

    def _parse(self, line: bytes) -> dict[str, Any] | None:
        """Decode one stdout line; anything that is not a protocol object is kept as stray."""
        text = line.decode(errors="replace").strip()
        if not text:
            return None
        try:
            message = json.loads(text)
        except json.JSONDecodeError:
            message = None
        if not isinstance(message, dict):
            self._stderr.append(f"[stray stdout] {text}")
            return None
        return message

    async def _drain_stderr(self) -> None:
        """Give the stderr reader a moment to collect the last lines of a dead driver."""
        task = self._stderr_task
        if task is not None and not task.done():
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(task), 1.0)

    def _death_message(self, what: str, proc: asyncio.subprocess.Process) -> str:
        """Describe why the driver is gone, with its exit code and stderr tail."""
        code = proc.returncode
        tail = "\n".join(list(self._stderr)[-20:])
        message = f"{what} (exit code {code})"
        return f"{message}; stderr:\n{tail}" if tail else message

    def _fail_pending(self, reason: str) -> None:
        """Fail every call still waiting for a reply."""
        for future in self._pending.values():
            if not future.done():
                future.set_exception(FronteggHarnessError(reason))
        self._pending.clear()
