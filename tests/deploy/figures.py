"""The image's figures for deploy/README.md: `scripts/deploy-check --figures`.

Runs the prod overlay's parts as the deploy check does (tests/deploy/test_containers.py, one
replica each), then prints: the image's size (and its base's); each part's time from
`podman run` to its readinessProbe passing, all started at once (as a rollout does) and one
totp replica started alone; each part's memory at rest, and its peak under `make bench`'s
verify load (bench/load.py: TOTP verifies with pre-started sessions, 16 keep-alive connections
through the gateway container) sampled every second from the containers' cgroups (podman
stats). The containers run under their manifests' CPU and memory limits."""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import threading
import time
from typing import Any

from bench import data
from shared.stores.bundle import open_stores
from tests.deploy.test_containers import RUN_ID, deployed, host_settings
from tests.support.pods import Cluster, WallClock, parts, podman

CONNECTIONS = 16
SECONDS = 15.0


def part_of(container: str) -> str:
    """mfa-<run>-<part>-<index> -> <part>."""
    return container.removeprefix(f"mfa-{RUN_ID}-").rsplit("-", 1)[0]


def mib(n: float) -> str:
    """Bytes as MiB."""
    return f"{n / 2**20:.0f}"


async def sessions(c: Cluster, n: int) -> list[str]:
    """n enrolled users' started sessions (as make bench makes them)."""
    settings = host_settings(c)
    stores = await open_stores(settings, WallClock())
    try:
        people = data.users(f"figures-{RUN_ID}", n)
        devices = await data.enroll(settings, stores, people)
        return await data.start_sessions(stores, people, devices)
    finally:
        await stores.close()


def under_load(c: Cluster, tokens: list[str]
               ) -> tuple[dict[str, Any], dict[str, int], dict[str, float]]:
    """bench.load's verify run through the gateway container; (its result, peak memory and
    CPU seconds used per container while it ran)."""
    spec = {"base": c.url("gateway"), "kind": "verify", "items": tokens, "seed": data.SEED,
            "concurrency": CONNECTIONS, "duration": SECONDS, "warmup": 1.0}
    peak: dict[str, int] = {}
    cpu: dict[str, tuple[float, float]] = {}  # first and last CPU seconds seen
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            for name, (used, seconds) in c.stats().items():
                peak[name] = max(peak.get(name, 0), used)
                cpu[name] = (cpu.get(name, (seconds, 0.0))[0], seconds)
            stop.wait(1.0)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        done = subprocess.run([sys.executable, "-m", "bench.load"], input=json.dumps(spec),
                              capture_output=True, text=True, timeout=SECONDS + 120,
                              check=True)
    finally:
        stop.set()
        sampler.join()
    used = {name: last - first for name, (first, last) in cpu.items()}
    return json.loads(done.stdout.strip().splitlines()[-1]), peak, used


def main() -> None:
    """Print the figures."""
    with deployed({}) as c:
        size = int(podman("image", "inspect", c.image, "--format", "{{.Size}}").stdout)
        history = podman("history", "--format", "{{.Size}}\t{{.CreatedBy}}", c.image).stdout
        at_once = {name: rs[0].ready - rs[0].started for name, rs in c.running.items()
                   if rs[0].ready is not None}
        job_code, job_s, _ = c.jobs["mfa-migrate"]
        totp = next(p for p in parts(c.objs) if p.name == "totp")
        alone = []
        for i in range(1, 4):
            replica = c.start(totp, i)
            c.wait_ready([replica])
            assert replica.ready is not None
            alone.append(replica.ready - replica.started)
            podman("rm", "--force", "--time", "0", replica.name)
            c.running["totp"].remove(replica)
        time.sleep(5)
        rests = [c.stats() for _ in range(3)]
        names = [r.name for rs in c.running.values() for r in rs]
        rest = {n: statistics.median(r[n][0] for r in rests) for n in names}
        tokens = asyncio.run(sessions(c, 12000))
        result, peak, used = under_load(c, tokens)

    print(f"image: {size / 1e6:.0f} MB ({c.image})")
    print(history)
    print(f"migration Job: exit {job_code} in {job_s:.1f} s")
    print(f"one totp replica started alone, run to ready: "
          f"{', '.join(f'{s:.1f}' for s in alone)} s")
    print(f"verify load: {CONNECTIONS} connections, {SECONDS:.0f} s: {result['rps']} verifies/s, "
          f"p50 {result['p50']} ms, p99 {result['p99']} ms, errors {result['errors']}"
          f" {result['first_error']}")
    verifies = result["done"]
    print("| part | run to ready, all at once (s) | memory at rest (MiB) | "
          "memory under the verify load, peak (MiB) | CPU ms per verify |")
    print("|---|---:|---:|---:|---:|")
    for name in sorted(rest, key=part_of):
        part = part_of(name)
        ready = at_once.get(part)
        per = 1000 * used.get(name, 0.0) / max(1, verifies)
        print(f"| {part} | {'' if ready is None else f'{ready:.1f}'} | {mib(rest[name])} | "
              f"{mib(peak.get(name, 0))} | {per:.2f} |")


if __name__ == "__main__":
    main()
