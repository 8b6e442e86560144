"""The processes a benchmark runs: a fresh Postgres database, keys in a temp dir, and the
gateway and services as real subprocesses on free loopback ports."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import asyncpg
import redis.asyncio as aioredis

from shared.devkeys import ensure_dev_keys

PG_ADMIN = os.environ.get("MFA_BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("MFA_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A loopback port nobody listens on (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def create_database(name: str) -> str:
    """A fresh, empty Postgres database; its URL."""
    conn = await asyncpg.connect(PG_ADMIN, timeout=3)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"


async def socket_url(tcp_url: str) -> str:
    """The same Postgres database over the server's Unix socket: its first
    `unix_socket_directories` entry, percent-encoded, as the host (asyncpg's form)."""
    from urllib.parse import quote

    conn = await asyncpg.connect(tcp_url, timeout=3)
    try:
        first = str(await conn.fetchval("SHOW unix_socket_directories")).split(",")[0].strip()
    finally:
        await conn.close()
    if not first:
        raise LookupError("Postgres listens on no Unix socket (unix_socket_directories)")
    user, name = tcp_url.split("://", 1)[1].split("@", 1)[0], tcp_url.rsplit("/", 1)[1]
    return f"postgresql://{user}@{quote(first, safe='')}/{name}"


async def drop_database(name: str) -> None:
    """Remove the benchmark's database."""
    conn = await asyncpg.connect(PG_ADMIN, timeout=3)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def base_env(tmp: Path, database_url: str, log_level: str) -> dict[str, str]:
    """The environment every process shares: keys generated into tmp, the stores, the log
    level (INFO, as deployed, by default: a request's log line is part of its cost)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MFA_", "OTEL_"))}
    env.update({"MFA_LOG_LEVEL": log_level, "MFA_REDIS_URL": REDIS_URL,
                "MFA_REDIS_PREFIX": f"mfa-bench-{os.getpid()}:",
                "MFA_DATABASE_URL": database_url, "MFA_VAR_DIR": str(tmp),
                "MFA_HOST": "127.0.0.1", "PYTHONPATH": str(ROOT),
                "MFA_INTERNAL_API_KEY": secrets.token_urlsafe(24)})
    return ensure_dev_keys(str(tmp), env)


def migrate(env: dict[str, str]) -> None:
    """python -m shared.stores.migrate up, as an operator would run it."""
    subprocess.run([sys.executable, "-m", "shared.stores.migrate", "up"], env=env, cwd=ROOT,  # noqa: S603
                   check=True, stdout=subprocess.DEVNULL)


@dataclass
class Processes:
    """Started subprocesses, stopped together (each by its own pid)."""

    env: dict[str, str]
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    pids: dict[str, list[int]] = field(default_factory=dict)
    log_dir: Path | None = None

    def start(self, name: str, module: str, port: int, copies: int = 1, **extra: str) -> str:
        """`python -m <module>` on a port, known as `name` (`copies` processes sharing the port
        with SO_REUSEPORT); its base URL. Logs go to `log_dir/<name>.log`."""
        env = {**self.env, "MFA_PORT": str(port), **extra}
        if copies > 1:
            env["MFA_REUSE_PORT"] = "true"
        args = [sys.executable, "-m", *module.split()]
        for _ in range(copies):
            log = open(self.log_dir / f"{name}.log", "ab") if self.log_dir else None  # noqa: SIM115
            proc = subprocess.Popen(args, env=env, cwd=ROOT,  # noqa: S603 - our own modules
                                    stdout=subprocess.DEVNULL, stderr=log)
            if log:
                log.close()  # the child holds its own descriptor
            self.procs.append(proc)
            self.pids.setdefault(name, []).append(proc.pid)
        return f"http://127.0.0.1:{port}"

    async def wait_ready(self, urls: list[str], path: str = "/healthz",
                         within: float = 90.0) -> None:
        """Wait until every URL answers 200 on path (or fail)."""
        deadline = time.monotonic() + within
        async with aiohttp.ClientSession() as http:
            for url in urls:
                while True:
                    try:
                        async with http.get(url + path) as r:
                            if r.status == 200:
                                break
                    except aiohttp.ClientError:
                        pass
                    if time.monotonic() > deadline or any(p.poll() is not None
                                                          for p in self.procs):
                        raise RuntimeError(f"{url} did not become ready{self._log_tail()}")
                    await asyncio.sleep(0.1)

    def _log_tail(self) -> str:
        if self.log_dir is None:
            return ""
        tails = [f"\n--- {p.name}\n" + "\n".join(p.read_text().splitlines()[-5:])
                 for p in sorted(self.log_dir.glob("*.log"))]
        return "".join(tails)

    def stop(self) -> None:
        """SIGTERM each process we started, then wait for it."""
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used (Linux /proc; 0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def drop_redis_keys(redis_url: str, prefix: str) -> None:
    """Delete what the benchmark left in Redis (its keys share one prefix)."""
    import redis.asyncio as aioredis

    r = aioredis.Redis.from_url(redis_url)
    try:
        async for key in r.scan_iter(match=prefix + "*", count=1000):
            await r.delete(key)
    finally:
        await r.aclose()


async def store_pids(database_url: str, redis_url: str) -> dict[str, list[int]]:
    """The Redis server's pid and the Postgres backends serving the benchmark's database."""
    import redis.asyncio as aioredis

    r = aioredis.Redis.from_url(redis_url)
    try:
        redis_pid = int((await r.info("server"))["process_id"])
    finally:
        await r.aclose()
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = "
                                "current_database() AND pid <> pg_backend_pid()")
    finally:
        await conn.close()
    return {"redis": [redis_pid], "postgres": [int(r["pid"]) for r in rows]}


@asynccontextmanager
async def own_redis() -> AsyncIterator[str]:
    """A redis-server of the caller's own on a free loopback port, saving nothing to disk (its
    CPU and memory are the caller's alone); its URL, once it answers."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (scripts/services-up installs it)")
    with tempfile.TemporaryDirectory(prefix="mfa-bench-redis-") as tmp:
        port = free_port()
        server = await asyncio.create_subprocess_exec(
            binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", tmp,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"redis://127.0.0.1:{port}/0"
        r = aioredis.Redis.from_url(url)
        try:
            for _ in range(200):
                try:
                    await r.ping()
                    break
                except (OSError, aioredis.ConnectionError):
                    await asyncio.sleep(0.05)
            yield url
        finally:
            await r.aclose()
            server.terminate()
            await server.wait()
