"""The split stack across namespaces of its own (tests/support/netns.py): a redis-server and a
Postgres cluster (initdb into a temp folder, Debian's binaries) of the run's own, the gateway,
every service (totp twice, as two replicas), and a webhook receiver, each in its own namespace
with its own address. Nothing here touches the machine's shared Redis or Postgres."""

from __future__ import annotations

import asyncio
import glob
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import aiohttp

from shared.devkeys import ensure_dev_keys
from tests.support.netns import Network

PORT = 8000
SERVICES = ("session", "totp", "sms", "email", "webauthn", "operators")
# One namespace per part; totp runs as two replicas behind the gateway.
PARTS = ["redis", "pg", "gw", "session", "totp1", "totp2", "sms", "email", "webauthn",
         "operators", "receiver"]
WEBHOOK_SECRET = "netfault-webhook-secret-0123456789"
START_S = 90.0  # the machine is shared: generous, and a timeout fails loudly


def postgres_bin() -> Path | None:
    """Debian's Postgres binaries (the newest installed), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


@dataclass
class Cluster:
    """The running stack: addresses, the environment the parts share, the logs."""

    net: Network
    tmp: Path
    env: dict[str, str] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _logs: list[IO[bytes]] = field(default_factory=list)
    keep_logs: bool = False  # set when the test failed: the folder stays for a look

    def url(self, part: str) -> str:
        """The part's HTTP base URL (from the host)."""
        return f"http://{self.net.addr[part]}:{PORT}"

    @property
    def database_url(self) -> str:
        """The run's Postgres (reachable from the host too)."""
        return f"postgresql://postgres@{self.net.addr['pg']}:5432/postgres"

    @property
    def redis_url(self) -> str:
        """The run's Redis."""
        return f"redis://{self.net.addr['redis']}:6379/0"

    def _log(self, name: str) -> IO[bytes]:
        f = (self.tmp / f"{name}.log").open("ab")
        self._logs.append(f)
        return f

    def log_tail(self, lines: int = 8) -> str:
        """The last lines of every part's log (for a failure's message)."""
        out = []
        for p in sorted(self.tmp.glob("*.log")):
            text = p.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {p.stem}\n" + "\n".join(text))
        return "\n".join(out)

    def unhandled(self) -> list[str]:
        """Every "unhandled error" a part logged (a 500 and its traceback)."""
        out = []
        for p in sorted(self.tmp.glob("*.log")):
            out += [f"{p.stem}: {line[:3000]}" for line in
                    p.read_text(errors="replace").splitlines() if "unhandled error" in line]
        return out

    def start_stores(self) -> None:
        """redis-server and a fresh Postgres cluster, each in its namespace."""
        redis = shutil.which("redis-server")
        pg = postgres_bin()
        assert redis and pg, "redis-server and Postgres are installed by scripts/services-up"
        self.net.spawn("redis", [redis, "--bind", self.net.addr["redis"], "--port", "6379",
                                 "--save", "", "--appendonly", "no", "--protected-mode", "no",
                                 "--maxmemory-policy", "noeviction", "--dir", str(self.tmp)],
                       log=self._log("redis"))
        data = Path(tempfile.mkdtemp(prefix="mfa-netfault-pg-"))
        shutil.chown(data, "postgres", "postgres")
        data.chmod(0o700)
        self._pg_data = data
        subprocess.run(["runuser", "-u", "postgres", "--", str(pg / "initdb"), "-D", str(data),
                        "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"],
                       check=True, capture_output=True, cwd="/")
        with (data / "pg_hba.conf").open("a") as hba:
            hba.write(f"host all all {self.net.addr['pg'].rsplit('.', 1)[0]}.0/24 trust\n")
        self.net.spawn("pg", [str(pg / "postgres"), "-D", str(data), "-p", "5432",
                              "-c", f"listen_addresses={self.net.addr['pg']}",
                              "-c", f"unix_socket_directories={data}", "-c", "fsync=off",
                              "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                              "-c", "max_connections=200"],
                       log=self._log("postgres"), user="postgres")

    async def wait_stores(self) -> None:
        """Until both answer; then the schema (python -m shared.stores.migrate up)."""
        import asyncpg
        import redis.asyncio as aioredis

        deadline = time.monotonic() + START_S
        while True:
            try:
                conn = await asyncpg.connect(self.database_url, timeout=2)
                await conn.close()
                r = aioredis.Redis.from_url(self.redis_url, socket_timeout=2)
                try:
                    await r.ping()
                finally:
                    await r.aclose()
                break
            except (OSError, asyncpg.PostgresError, aioredis.RedisError):
                assert time.monotonic() < deadline, f"stores never answered\n{self.log_tail()}"
                await asyncio.sleep(0.2)
        migrate = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "shared.stores.migrate", "up", env=self.env,
            cwd=self.net_root, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE)
        _, err = await migrate.communicate()
        assert migrate.returncode == 0, f"migrate failed: {err.decode()[-2000:]}"

    @property
    def net_root(self) -> Path:
        """The repository (the parts run from it)."""
        return Path(__file__).resolve().parent.parent.parent

    def base_env(self, extra: dict[str, str]) -> None:
        """The environment of every part: keys made into the temp folder, the stores."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("MFA_")}
        env.update({"PYTHONPATH": str(self.net_root), "MFA_LOG_LEVEL": "WARNING",
                    "MFA_VAR_DIR": str(self.tmp), "MFA_REDIS_URL": self.redis_url,
                    "MFA_DATABASE_URL": self.database_url, "MFA_PORT": str(PORT),
                    "MFA_INTERNAL_API_KEY": secrets.token_urlsafe(32),
                    "MFA_EXPOSE_INTERNAL_API": "true",
                    "MFA_WEBHOOK_URLS": f"{self.url('receiver')}/events",
                    "MFA_WEBHOOK_SECRET": WEBHOOK_SECRET,
                    # the harness's Postgres in its namespace has no TLS
                    "MFA_DATABASE_ALLOW_UNVERIFIED_TLS": "true", **extra})
        self.env = ensure_dev_keys(str(self.tmp), env)

    def start_parts(self) -> None:
        """Every service, the two totp replicas, the receiver, then the gateway."""
        for part in PARTS[3:-1]:
            module = "services.totp" if part.startswith("totp") else f"services.{part}"
            self.procs[part] = self.net.spawn(
                part, [sys.executable, "-m", module], log=self._log(part),
                env={**self.env, "MFA_HOST": self.net.addr[part]})
        receiver_dir = self.tmp / "receiver"
        receiver_dir.mkdir(exist_ok=True)
        self.procs["receiver"] = self.net.spawn(
            "receiver", [sys.executable, "-m", "tests.support.webhook_receiver", str(PORT),
                         WEBHOOK_SECRET, str(receiver_dir)], log=self._log("receiver"),
            env={**self.env, "MFA_RECEIVER_HOST": self.net.addr["receiver"]})
        upstreams = {f"MFA_{s.upper()}_URL": self.url(s) for s in SERVICES if s != "totp"}
        upstreams["MFA_TOTP_URL"] = f"{self.url('totp1')},{self.url('totp2')}"
        self.procs["gw"] = self.net.spawn("gw", [sys.executable, "-m", "gateway"],
                                          log=self._log("gateway"),
                                          env={**self.env, **upstreams,
                                               "MFA_HOST": self.net.addr["gw"]})

    async def wait_ready(self, http: aiohttp.ClientSession) -> None:
        """Until every part's /readyz (the receiver's /ready) is 200."""
        deadline = time.monotonic() + START_S
        for part in [*PARTS[3:], "gw"]:
            path = "/ready" if part == "receiver" else "/readyz"
            while True:
                try:
                    async with http.get(self.url(part) + path,
                                        timeout=aiohttp.ClientTimeout(total=3)) as r:
                        if r.status == 200:
                            break
                except (aiohttp.ClientError, TimeoutError):
                    pass
                dead = [n for n, p in self.procs.items() if p.poll() is not None]
                assert not dead and time.monotonic() < deadline, \
                    f"{part} never ready (exited: {dead})\n{self.log_tail()}"
                await asyncio.sleep(0.2)

    def stop(self) -> None:
        """Every process (the network's own clean-up ends them by pid), logs closed, the
        Postgres folder and (unless keep_logs) the temp folder (logs, keys) removed."""
        self.net.down()
        for f in self._logs:
            f.close()
        data = getattr(self, "_pg_data", None)
        if data is not None:
            shutil.rmtree(data, ignore_errors=True)
        if self.keep_logs:
            print(f"the parts' logs: {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def receiver_log(self, name: str) -> list[dict[str, Any]]:
        """The receiver's events.jsonl (new ids) or raw.jsonl (every delivery)."""
        import json

        p = self.tmp / "receiver" / name
        return [json.loads(line) for line in p.read_text().splitlines()] if p.exists() else []
