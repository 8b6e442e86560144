"""`python -m bench`: the TOTP login through the gateway in split mode, with its ceilings.

Starts a bare aiohttp handler, the session and totp services and two gateways (one in front of
the services, one in front of the bare handler) as subprocesses on loopback, on a fresh
Postgres database and Redis; pre-enrolls users; then measures each scenario at a few
concurrency levels with a load generator in its own process. Prints req/s and p50/p99.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import data
from bench.procs import (
    ROOT,
    Processes,
    base_env,
    cpu_seconds,
    create_database,
    drop_database,
    drop_redis_keys,
    free_port,
    migrate,
    store_pids,
)
from shared.settings import Settings

VERIFY_PATH = "/frontegg/identity/resources/auth/v1/user/mfa/verify"


async def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one measurement in a separate load-generator process."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.load", stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, cwd=ROOT)
    out, _ = await proc.communicate(json.dumps(spec).encode())
    if proc.returncode != 0:
        raise RuntimeError("the load generator failed")
    return dict(json.loads(out.decode().strip().splitlines()[-1]))


def row(label: str, conns: int, r: dict[str, Any], cpu: dict[str, float]) -> str:
    """One line of the table: throughput, latency, and each process's CPU per request."""
    note = f"  ({r['first_error']})" if r["errors"] else ""
    short = "  (ran out of pre-made sessions)" if r["seconds"] < 0.9 * ARGS.duration else ""
    per = " ".join(f"{k} {v:.2f}" for k, v in cpu.items())
    return (f"{label:<40}{conns:>6}{r['rps']:>9,.0f}{r['p50']:>9.2f}{r['p99']:>9.2f}"
            f"{r['errors']:>7}   {per}{note}{short}")


PLAN = [("bare aiohttp JSON handler (ceiling)", "post", "bare", ["bare"]),
        ("gateway -> bare handler (the hop)", "post", "hop", ["hop", "bare"]),
        ("TOTP verify (/user/mfa/verify)", "verify", "gw",
         ["gw", "totp", "redis", "postgres"]),
        ("TOTP login (session start + verify)", "login", "gw",
         ["gw", "session", "totp", "redis", "postgres"])]


class CpuMeter:
    """CPU seconds of the benchmark's processes, Redis and its Postgres backends."""

    def __init__(self, procs: Processes, settings: Settings) -> None:
        self._procs, self._settings = procs, settings

    async def sample(self) -> dict[str, dict[int, float]]:
        """name -> {pid: cpu seconds}."""
        pids = {k: [v] for k, v in self._procs.pids.items()}
        pids.update(await store_pids(self._settings.database_url, self._settings.redis_url))
        return {k: {p: cpu_seconds(p) for p in v} for k, v in pids.items()}

    @staticmethod
    def per_request(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]],
                    names: list[str], requests: int) -> dict[str, float]:
        """ms of CPU per request for each named part."""
        out = {}
        for name in names:
            used = sum(t - before.get(name, {}).get(p, 0.0) for p, t in after[name].items())
            out[name] = used * 1000 / max(1, requests)
        return out


async def scenarios(urls: dict[str, str], settings: Settings, meter: CpuMeter,
                    pools: dict[str, list[Any]]) -> None:
    """Every scenario at every concurrency level, printed as it completes."""
    base = {"duration": ARGS.duration, "warmup": ARGS.warmup, "seed": data.SEED,
            "internal_key": settings.internal_api_key, "path": VERIFY_PATH,
            "body": {"mfaToken": "x" * 43, "value": "123456"}}
    for label, kind, target, parts in PLAN:
        for conns in ARGS.levels:
            pool = pools.get(kind, [])
            before = await meter.sample()
            r = await measure({**base, "kind": kind, "base": urls[target],
                               "concurrency": conns, "items": pool})
            cpu = meter.per_request(before, await meter.sample(), parts, r["done"])
            del pool[:r["used"]]
            print(row(label, conns, r, cpu), flush=True)


async def prepare(settings: Settings) -> dict[str, list[Any]]:
    """Enrolled users with started sessions (verify) and enrolled users alone (login)."""
    t0 = time.perf_counter()
    for_verify, for_login = data.users("v", ARGS.verify_users), data.users("l", ARGS.login_users)
    stores = await data.open_stores(settings)
    try:
        await data.enroll(settings, stores, for_verify + for_login)
        tokens = await data.start_sessions(stores, for_verify)
    finally:
        await stores.close()
    print(f"prepared {len(for_verify) + len(for_login):,} enrolled users and "
          f"{len(tokens):,} MFA sessions in {time.perf_counter() - t0:.1f} s", flush=True)
    return {"verify": tokens, "login": for_login}


def start_all(procs: Processes) -> dict[str, str]:
    """bare handler, session, totp, the gateway, and a gateway in front of the bare handler."""
    port = free_port()
    bare = procs.start("bare", f"bench.bare {port}", port)
    session = procs.start("session", "services.session", free_port())
    totp = procs.start("totp", "services.totp", free_port())
    gateway = procs.start("gw", "gateway", free_port(), MFA_SESSION_URL=session,
                          MFA_TOTP_URL=totp, MFA_EXPOSE_INTERNAL_API="true")
    hop = procs.start("hop", "gateway", free_port(), MFA_TOTP_URL=bare)
    return {"bare": bare, "session": session, "totp": totp, "gw": gateway, "hop": hop}


async def main() -> None:
    """Set up, measure, report, tear down."""
    name = f"mfa_bench_{os.getpid()}"
    tmp = Path(tempfile.mkdtemp(prefix="mfa-bench-"))
    env = base_env(tmp, await create_database(name))
    procs = Processes(env)
    try:
        migrate(env)
        settings = Settings.from_env(env)
        urls = start_all(procs)
        await procs.wait_ready(list(urls.values()))
        await procs.wait_ready([urls["gw"]], "/readyz")
        pools = await prepare(settings)
        print(f"\nsplit mode on loopback, {os.cpu_count()} CPUs shared by every process "
              f"(load generator included), {ARGS.duration:g} s per measurement\n"
              f"{'':<40}{'conns':>6}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>7}"
              f"   CPU ms per request", flush=True)
        await scenarios(urls, settings, CpuMeter(procs, settings), pools)
        print("\nstore round trips on the hot path (one call each):")
        for what, calls in (await data.login_trace(settings)).items():
            calls = [c for c in calls if not c.endswith(".close")]
            redis = [c for c in calls if c.startswith("redis")]
            print(f"  {what}: {len(redis)} Redis, {len(calls) - len(redis)} Postgres: "
                  f"{', '.join(calls)}")
    finally:
        procs.stop()
        await drop_database(name)
        await drop_redis_keys(env["MFA_REDIS_URL"], env["MFA_REDIS_PREFIX"])
        shutil.rmtree(tmp, ignore_errors=True)


def parse(argv: list[str]) -> argparse.Namespace:
    """Command-line options (defaults keep the whole run under two minutes)."""
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--duration", type=float, default=6.0, help="seconds per measurement")
    p.add_argument("--warmup", type=float, default=0.5, help="seconds before measuring")
    p.add_argument("--levels", type=int, nargs="+", default=[1, 16, 64],
                   help="concurrent connections")
    p.add_argument("--verify-users", type=int, default=20000)
    p.add_argument("--login-users", type=int, default=12000)
    return p.parse_args(argv)


ARGS = parse([])

if __name__ == "__main__":
    ARGS = parse(sys.argv[1:])
    asyncio.run(main())
