"""`python -m bench`: the TOTP login through the gateway in split mode, with its ceilings.

Starts a bare aiohttp handler, the session and totp services and two gateways (one in front of
the services, one in front of the bare handler) as subprocesses on loopback, on a fresh
Postgres database and Redis; pre-enrolls users; then measures each scenario at a few
concurrency levels with a load generator in its own process. Prints req/s, its share of the
hop's req/s at the same concurrency, p50/p99 and CPU per request; the floor (a gateway in
front of a handler that makes only the verify's three store calls, bench/floor.py); a verify
straight to the totp service (what the gateway hop costs) and one through a gateway in front of
several totp processes (what a second replica adds); then, with those processes stopped, what
the verify's store calls cost over Unix sockets against loopback TCP (bench/sockets.py) and
with the settle before and after the answer (bench/settle.py); writes the rows as JSON under
var/bench/. The verify is also measured with OpenTelemetry tracing on (a gateway and a totp
process exporting over OTLP/HTTP to a receiver process on loopback,
tests/support/otlp_receiver.py), sampled at 1 % and at 100 %; the plain verify row is tracing
off.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import data, scale, settle, sockets
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
    own_redis,
    store_pids,
)
from shared.settings import Settings

VERIFY_PATH = "/frontegg/identity/resources/auth/v1/user/mfa/verify"
SESSION_BYTES: list[float] = []  # Redis bytes per live session, as prepare() measured them
VERIFY_USERS: list[Any] = []  # (users, devices) of the verify rows, for the scale run's sessions


async def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one measurement in a separate load-generator process."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.load", stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, cwd=ROOT)
    out, _ = await proc.communicate(json.dumps(spec).encode())
    if proc.returncode != 0:
        raise RuntimeError("the load generator failed")
    return dict(json.loads(out.decode().strip().splitlines()[-1]))


def row(label: str, conns: int, r: dict[str, Any], cpu: dict[str, float],
        hop: float | None) -> str:
    """One line of the table: throughput, its share of the hop's at the same concurrency,
    latency, and each process's CPU per request."""
    note = f"  ({r['first_error']})" if r["errors"] else ""
    short = "  (ran out of pre-made sessions)" if r["seconds"] < 0.9 * ARGS.duration else ""
    per = " ".join(f"{k} {v:.2f}" for k, v in cpu.items())
    ratio = f"{100 * r['rps'] / hop:>6.0f}%" if hop else f"{'':>7}"
    return (f"{label:<44}{conns:>6}{r['rps']:>9,.0f}{ratio}{r['p50']:>9.2f}{r['p99']:>9.2f}"
            f"{r['errors']:>7}   {per}{note}{short}")


HOP = "gateway -> bare handler (the hop)"
VERIFY_ROW = "TOTP verify (/user/mfa/verify)"
FLOOR_ROW = "floor: gateway -> the verify's store calls"
LOGIN_ROW = "TOTP login (session start + verify)"
# The verify with tracing on: row label -> (its gateway/totp names, the sampling ratio).
TRACED = {"TOTP verify, traced, sampled 1 %": ("t1", "0.01"),
          "TOTP verify, traced, sampled 100 %": ("t100", "1.0")}
TRACED_LEVEL = 16  # the traced rows run at this concurrency only (when it is measured)


def plan() -> list[tuple[str, str, str, list[str]]]:
    """(label, kind, target, processes whose CPU counts) for every row, in order (with
    --scale: the hop, the verify and the login only)."""
    if ARGS.scale:
        return [(HOP, "post", "hop", ["hop", "bare"]),
                (VERIFY_ROW, "verify", "gw", ["gw", "totp", "redis", "postgres"]),
                (LOGIN_ROW, "login", "gw", ["gw", "session", "totp", "redis", "postgres"])]
    rows = [("bare aiohttp JSON handler (ceiling)", "post", "bare", ["bare"]),
            (HOP, "post", "hop", ["hop", "bare"]),
            (FLOOR_ROW, "verify", "gw-floor", ["gw-floor", "floor", "redis", "postgres"]),
            (VERIFY_ROW, "verify", "gw", ["gw", "totp", "redis", "postgres"]),
            ("TOTP verify straight to totp (no gateway)", "direct", "totp",
             ["totp", "redis", "postgres"])]
    rows += [(label, "verify", f"gw-{name}", [f"gw-{name}", f"totp-{name}", "redis", "postgres"])
             for label, (name, _) in TRACED.items()]
    if ARGS.totp_procs > 1:
        rows.append((f"TOTP verify, {ARGS.totp_procs} totp processes", "verify", "gw-n",
                     ["gw-n", "totp-n", "redis", "postgres"]))
    rows.append((LOGIN_ROW, "login", "gw",
                 ["gw", "session", "totp", "redis", "postgres"]))
    return rows


class CpuMeter:
    """CPU seconds of the benchmark's processes, Redis and its Postgres backends."""

    def __init__(self, procs: Processes, settings: Settings) -> None:
        self._procs, self._settings = procs, settings
        self.exclude: set[int] = set()  # backends whose work is not the requests' (pruning)

    async def sample(self) -> dict[str, dict[int, float]]:
        """name -> {pid: cpu seconds}."""
        pids = dict(self._procs.pids)
        pids.update(await store_pids(self._settings.database_url, self._settings.redis_url))
        return {k: {p: cpu_seconds(p) for p in v if p not in self.exclude}
                for k, v in pids.items()}

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
                    pools: dict[str, list[Any]], rows: list[tuple[str, str, str, list[str]]],
                    levels: list[int], suffix: str = "") -> list[dict[str, Any]]:
    """Every scenario at every concurrency level, printed as it completes; the rows (labels
    with `suffix`, the scale run's)."""
    base = {"duration": ARGS.duration, "warmup": ARGS.warmup, "seed": data.SEED,
            "internal_key": settings.internal_api_key, "path": VERIFY_PATH,
            "body": {"mfaToken": "x" * 43, "value": "123456"}}
    out: list[dict[str, Any]] = []
    hop: dict[int, float] = {}
    for label, kind, target, parts in rows:
        row_levels = [TRACED_LEVEL] if label in TRACED and TRACED_LEVEL in levels else levels
        for conns in row_levels:
            pool = pools["verify" if kind == "direct" else kind] if kind != "post" else []
            spec = {**base, "kind": "verify" if kind == "direct" else kind,
                    "base": urls[target], "concurrency": conns, "items": pool}
            if kind == "direct":  # the service's own path: no gateway, no mount prefix
                spec["verify_path"] = VERIFY_PATH.removeprefix(settings.mount_prefix)
            before = await meter.sample()
            r = await measure(spec)
            cpu = meter.per_request(before, await meter.sample(), parts, r["done"])
            del pool[:r["used"]]
            if label == HOP:
                hop[conns] = r["rps"]
            print(row(label + suffix, conns, r, cpu, hop.get(conns)), flush=True)
            out.append({"row": label + suffix, "conns": conns, "rps": r["rps"], "p50_ms": r["p50"],
                        "p99_ms": r["p99"], "errors": r["errors"], "seconds": r["seconds"],
                        "of_hop": round(r["rps"] / hop[conns], 3) if conns in hop else None,
                        "cpu_ms": {k: round(v, 3) for k, v in cpu.items()},
                        "server_cpu_ms": round(sum(cpu.values()), 3)})
    return out


def goals(rows: list[dict[str, Any]]) -> list[str]:
    """The performance issue's goals, each a ratio read off this run's rows."""
    by = {(r["row"], r["conns"]): r for r in rows}
    lines = []
    for conns in (16, 64):
        v, f, lg = (by.get((VERIFY_ROW, conns)), by.get((FLOOR_ROW, conns)),
                    by.get((LOGIN_ROW, conns)))
        if v and v["of_hop"] is not None:
            lines.append(f"verify at {conns} conns: {100 * v['of_hop']:.0f}% of the hop's req/s "
                         "(goal >= 40%)")
        if v and f and f["rps"]:
            lines.append(f"verify at {conns} conns: {100 * v['rps'] / f['rps']:.0f}% of the "
                         "floor's req/s (goal >= 85%)")
        if v and lg and v["rps"]:
            lines.append(f"login at {conns} conns: {100 * lg['rps'] / v['rps']:.0f}% of the "
                         "verify's req/s (goal >= 50%)")
    v16, hop16 = by.get((VERIFY_ROW, 16)), by.get((HOP, 16))
    if v16 and hop16 and hop16["server_cpu_ms"]:
        lines.append(f"server CPU per verify at 16 conns: {v16['server_cpu_ms']:.2f} ms, "
                     f"{v16['server_cpu_ms'] / hop16['server_cpu_ms']:.1f}x the hop's "
                     f"{hop16['server_cpu_ms']:.2f} ms (goal <= 4x)")
    traced = [(label, by.get((label, TRACED_LEVEL))) for label in TRACED]
    off = by.get((VERIFY_ROW, TRACED_LEVEL))
    if off and off["rps"] and all(r for _, r in traced):
        parts = [f"off {off['rps']:,.0f} req/s, {off['server_cpu_ms']:.2f} ms CPU"]
        parts += [f"{label.rsplit(' ', 2)[-2]} % {r['rps']:,.0f} req/s "
                  f"({100 * r['rps'] / off['rps']:.0f}%), {r['server_cpu_ms']:.2f} ms CPU"
                  for label, r in traced if r]
        lines.append(f"tracing, verify at {TRACED_LEVEL} conns: " + "; ".join(parts))
    v64 = by.get((VERIFY_ROW, 64))
    if v64 and v64["p50_ms"]:
        lines.append(f"p99 / p50 of the verify at 64 conns: "
                     f"{v64['p99_ms'] / v64['p50_ms']:.1f} (goal <= 4)")
    return lines


def machine() -> dict[str, Any]:
    """What the run ran on, for the JSON record."""
    model = ""
    with contextlib.suppress(OSError):
        model = next((ln.split(":", 1)[1].strip() for ln in
                      Path("/proc/cpuinfo").read_text().splitlines()
                      if ln.startswith("model name")), "")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,  # noqa: S607
                            capture_output=True, text=True, check=False).stdout.strip()
    return {"cpus": os.cpu_count(), "cpu_model": model, "python": sys.version.split()[0],
            "commit": commit, "load_average": os.getloadavg()}


def record(rows: list[dict[str, Any]], trips: dict[str, list[str]],
           transport: dict[str, tuple[float, float, float]],
           settled: dict[str, tuple[float, ...]], extra: dict[str, Any] | None = None) -> Path:
    """Write the run as JSON under var/bench/ (compare runs with any JSON tool)."""
    out = ROOT / "var" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"bench-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    path.write_text(json.dumps({"machine": machine(), "args": vars(ARGS), "rows": rows,
                                "round_trips": trips, "goals": goals(rows),
                                "store_transport_ms": {  # bench.sockets: client, Redis, PG
                                    k: dict(zip(("client", "redis", "postgres"), v,
                                                strict=True)) for k, v in transport.items()},
                                "settle_after_answer": {  # bench.settle, per verify
                                    k: dict(zip(("client_ms", "redis_ms", "postgres_ms",
                                                 "answer_ms_at_16", "answer_ms_alone"), v,
                                                strict=True)) for k, v in settled.items()},
                                **(extra or {})},
                               indent=1))
    return path


async def prepare(settings: Settings) -> dict[str, list[Any]]:
    """Enrolled users with started sessions (verify) and enrolled users alone (login)."""
    t0 = time.perf_counter()
    for_verify, for_login = data.users("v", ARGS.verify_users), data.users("l", ARGS.login_users)
    stores = await data.open_stores(settings)
    try:
        devices = await data.enroll(settings, stores, for_verify + for_login)
        before = await scale.redis_memory(settings.redis_url)
        tokens = await data.start_sessions(stores, for_verify, devices)
        SESSION_BYTES.append((await scale.redis_memory(settings.redis_url) - before)
                             / max(1, len(tokens)))
        VERIFY_USERS.append((for_verify, devices))
    finally:
        await stores.close()
    print(f"prepared {len(for_verify) + len(for_login):,} enrolled users and "
          f"{len(tokens):,} MFA sessions in {time.perf_counter() - t0:.1f} s", flush=True)
    return {"verify": tokens, "login": for_login}


def start_all(procs: Processes) -> dict[str, str]:
    """bare handler, session, totp, the gateway, a gateway in front of the bare handler, one in
    front of the floor handler, and
    (with --totp-procs N > 1) a gateway in front of N totp processes sharing one port."""
    port, port_floor = free_port(), free_port()
    bare = procs.start("bare", f"bench.bare {port}", port)
    session = procs.start("session", "services.session", free_port())
    totp = procs.start("totp", "services.totp", free_port())
    urls = {"bare": bare, "session": session, "totp": totp,
            "gw": procs.start("gw", "gateway", free_port(), MFA_SESSION_URL=session,
                              MFA_TOTP_URL=totp, MFA_EXPOSE_INTERNAL_API="true"),
            "hop": procs.start("hop", "gateway", free_port(), MFA_TOTP_URL=bare)}
    floor = procs.start("floor", f"bench.floor {port_floor}", port_floor)
    urls["gw-floor"] = procs.start("gw-floor", "gateway", free_port(), MFA_TOTP_URL=floor)
    if ARGS.totp_procs > 1:
        many = procs.start("totp-n", "services.totp", free_port(), copies=ARGS.totp_procs)
        urls["gw-n"] = procs.start("gw-n", "gateway", free_port(), MFA_TOTP_URL=many)
    if not ARGS.scale:
        urls.update(start_traced(procs))
    return urls


def start_traced(procs: Processes) -> dict[str, str]:
    """An OTLP receiver (counting only) and, per TRACED row, a gateway and a totp process
    exporting their spans to it over OTLP/HTTP at the row's sampling ratio."""
    otlp = free_port()
    procs.start("otlp", f"tests.support.otlp_receiver --http-port {otlp} --count-only", otlp)
    urls = {"otlp": f"http://127.0.0.1:{otlp}"}
    for name, ratio in TRACED.values():
        otel: dict[str, Any] = {"OTEL_EXPORTER_OTLP_ENDPOINT": urls["otlp"],
                                "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                                "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
                                "OTEL_TRACES_SAMPLER_ARG": ratio}
        traced = procs.start(f"totp-{name}", "services.totp", free_port(), **otel)
        urls[f"gw-{name}"] = procs.start(f"gw-{name}", "gateway", free_port(),
                                         MFA_TOTP_URL=traced, **otel)
    return urls


async def main() -> None:
    """Set up, measure, report, tear down (with --scale: on a redis-server of the run's own,
    and the scale run instead of the side measurements)."""
    async with contextlib.AsyncExitStack() as stack:
        redis_url = await stack.enter_async_context(own_redis()) if ARGS.scale else None
        await run(redis_url)


async def run(redis_url: str | None) -> None:
    """The run, on the shared Redis or (scale) on `redis_url`."""
    name = f"mfa_bench_{os.getpid()}"
    tmp = Path(tempfile.mkdtemp(prefix="mfa-bench-"))
    env = base_env(tmp, await create_database(name), ARGS.log_level)
    if redis_url:
        env["MFA_REDIS_URL"] = redis_url
    procs = Processes(env, log_dir=tmp)
    try:
        migrate(env)
        settings = Settings.from_env(env)
        urls = start_all(procs)
        await procs.wait_ready([u for k, u in urls.items() if k != "otlp"])
        if "otlp" in urls:
            await procs.wait_ready([urls["otlp"]], "/count")
        await procs.wait_ready([urls["gw"]], "/readyz")
        pools = await prepare(settings)
        print(f"\nsplit mode on loopback, {os.cpu_count()} CPUs shared by every process "
              f"(load generator included), {ARGS.duration:g} s per measurement, logs at "
              f"{ARGS.log_level}, load average {os.getloadavg()[0]:.1f}\n"
              f"{'':<44}{'conns':>6}{'req/s':>9}{'of hop':>7}{'p50 ms':>9}{'p99 ms':>9}"
              f"{'errors':>7}   CPU ms per request", flush=True)
        meter = CpuMeter(procs, settings)
        rows = await scenarios(urls, settings, meter, pools, plan(), ARGS.levels)
        if ARGS.scale:
            big = await scale_run(urls, settings, meter, pools, env, rows)
            path = record(rows + big["rows"], {}, {}, {}, {"scale": big})
            print(f"\nrows written to {path.relative_to(ROOT)}", flush=True)
            return
        print("\nstore round trips on the hot path (one call each):")
        trips = {}
        for what, calls in (await data.login_trace(settings)).items():
            trips[what] = calls = [c for c in calls if not c.endswith(".close")]
            after = [c for c in calls if c.endswith(".settle_later")]  # sent after the answer
            redis = [c for c in calls if c.startswith("redis") and c not in after]
            print(f"  {what}: {len(redis)} Redis, {len(calls) - len(redis) - len(after)} "
                  f"Postgres before the answer{f', {len(after)} Redis after' if after else ''}"
                  f": {', '.join(calls)}")
        print("\n" + "\n".join(goals(rows)), flush=True)
        procs.stop()  # the side measurements below want the cores to themselves
        transport = await sockets.measure()
        print("\n" + "\n".join(sockets.report(transport)))
        settled = await settle.measure()
        print("\n" + "\n".join(settle.report(settled)))
        print(f"\nrows written to {record(rows, trips, transport, settled).relative_to(ROOT)}",
              flush=True)
    finally:
        procs.stop()
        await drop_database(name)
        await drop_redis_keys(env["MFA_REDIS_URL"], env["MFA_REDIS_PREFIX"])
        shutil.rmtree(tmp, ignore_errors=True)


def at_scale(small: list[dict[str, Any]], big: list[dict[str, Any]]) -> list[str]:
    """Each scale row against its small-data row: req/s, p50, p99 and server CPU as ratios
    (the goal: within 10 %)."""
    by = {(r["row"], r["conns"]): r for r in small}
    lines = ["at scale against the small data (ratio; goal within 10 %):"]
    for r in big:
        label = r["row"].replace(" (at scale, pruning)", "").replace(" (at scale)", "")
        s = by.get((label, r["conns"]))
        if not s or not s["rps"] or not s["p50_ms"] or not s["server_cpu_ms"]:
            continue
        lines.append(f"  {r['row']:<52} {r['conns']:>3} conns: req/s {r['rps'] / s['rps']:.2f}"
                     f"  p50 {r['p50_ms'] / s['p50_ms']:.2f}  p99 {r['p99_ms'] / s['p99_ms']:.2f}"
                     f"  CPU {r['server_cpu_ms'] / s['server_cpu_ms']:.2f}")
    return lines


async def scale_run(urls: dict[str, str], settings: Settings, meter: CpuMeter,
                    pools: dict[str, list[Any]], env: dict[str, str],
                    small: list[dict[str, Any]]) -> dict[str, Any]:
    """Grow the data, measure the same rows again, then logins while the retention prunes;
    compare with the small-data rows and report what the data costs."""
    sizes = scale.Sizes().times(ARGS.scale_factor)
    print(f"\ngrowing the data to {sizes} ...", flush=True)
    t0 = time.perf_counter()
    await scale.fill_postgres(settings.database_url, sizes, lambda m: print(m, flush=True))
    lockout_bytes = await scale.fill_lockouts(settings.redis_url, env["MFA_REDIS_PREFIX"],
                                              sizes.lockouts) / sizes.lockouts
    # The sessions made before outlived MFA_TOKEN_TTL while the data grew: fresh ones.
    stores = await data.open_stores(settings)
    try:
        pools["verify"] = await data.start_sessions(stores, *VERIFY_USERS[0])
    finally:
        await stores.close()
    print(f"  {sizes.lockouts:>12,} lockout records; all grown in "
          f"{time.perf_counter() - t0:.0f} s, load average {os.getloadavg()[0]:.1f}\n",
          flush=True)
    big = await scenarios(urls, settings, meter, pools, plan(), ARGS.levels, " (at scale)")
    footprint = await scale.postgres_bytes(settings.database_url)  # before the prune frees
    login = [r for r in plan() if r[0] == LOGIN_ROW]
    pruned_rows, pruned = await scale.prune_while(
        settings.database_url, meter.exclude,
        lambda: scenarios(urls, settings, meter, pools, login, [16], " (at scale, pruning)"))
    print(f"  the retention deleted {pruned['audit']:,} audit rows, {pruned['outbox']:,} outbox "
          f"events and {pruned['token_uses']:,} mfaToken uses in {pruned['seconds']} s "
          f"(batches of {scale.retention.BATCH:,}; {pruned['postgres_cpu_s']} s of Postgres CPU, "
          f"not counted in the row above; the measurement took "
          f"{pruned['measurement_seconds']} s)", flush=True)
    print("\n" + "\n".join(at_scale(small, big + pruned_rows)), flush=True)
    session_bytes = SESSION_BYTES[0] if SESSION_BYTES else 0.0
    print("\n" + "\n".join(scale.report(footprint, session_bytes, lockout_bytes)))
    return {"sizes": dataclasses.asdict(sizes), "rows": big + pruned_rows, "prune": pruned,
            "postgres_bytes": footprint, "redis_bytes_per_session": session_bytes,
            "redis_bytes_per_lockout_user": lockout_bytes}


def parse(argv: list[str]) -> argparse.Namespace:
    """Command-line options (defaults keep the whole run under two minutes)."""
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--duration", type=float, default=6.0, help="seconds per measurement")
    p.add_argument("--warmup", type=float, default=0.5, help="seconds before measuring")
    p.add_argument("--levels", type=int, nargs="+", default=[1, 16, 64],
                   help="concurrent connections")
    p.add_argument("--verify-users", type=int, default=90000)
    p.add_argument("--totp-procs", type=int, default=2,
                   help="totp processes behind a second gateway (1: no such row)")
    p.add_argument("--log-level", default="INFO", help="MFA_LOG_LEVEL of every process")
    p.add_argument("--login-users", type=int, default=12000)
    p.add_argument("--scale", action="store_true",
                   help="the scale run: the hop, verify and login rows, then the same with the "
                        "data grown to a deployment's size, logins while pruning, bytes")
    p.add_argument("--scale-factor", type=float, default=1.0,
                   help="with --scale, every size times this (1: 1M users, 10M audit rows)")
    return p.parse_args(argv)


ARGS = parse([])

if __name__ == "__main__":
    ARGS = parse(sys.argv[1:])
    asyncio.run(main())
