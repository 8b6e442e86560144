"""Before and after moving the settle past the answer: the verify's store calls, both ways.

Run: python -m bench.settle [ROUNDS]   (make bench runs it after the main table)

Before: the reservation (one EVALSHA), the step advance with its audit row (one statement),
then the settle (one EVALSHA that consumes the session: the single use) awaited before the
answer. After: the reservation, the step advance with its audit row and the mfaToken's use
(one statement: Postgres decides the single use), the answer, and the settle queued
(Ephemeral.settle_later: one pipeline per event-loop turn for every request that finished in
it). Each verify gets a session of its own and a newer step on its worker's device. 16 at a
time on uvloop, against a redis-server of its own and a fresh Postgres database; blocks of
the two alternate; the median block's CPU milliseconds per verify (this process, Redis, the
Postgres backends) and the mean time to the answer are printed.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import data
from bench.procs import (
    base_env,
    cpu_seconds,
    create_database,
    drop_database,
    migrate,
    own_redis,
    store_pids,
)
from shared.events.audit import AuditEvent, TokenUse
from shared.mfa.lockout import Lockout
from shared.mfa.sessions import tag_of
from shared.settings import Settings
from shared.stores.bundle import Stores

CONCURRENCY = 16
VERIFIES = 1600  # per block
FORMS = ("before: settle awaited", "after: use in the statement, settle queued")


async def _block(stores: Stores, form: str, devices: list[Any], steps: list[int],
                 pids: dict[str, list[int]], n: int, tasks: int) -> tuple[float, ...]:
    """n verifies from `tasks` tasks on sessions started before the clock runs: CPU ms per
    verify of this process, Redis and Postgres, and the mean ms to the answer."""
    per_task = n // tasks
    devices = devices[:tasks]
    sessions = [[(await stores.sessions.create(tenant_id=d.tenant_id, user_id=d.user_id,
                                               email="", devices=[d]))[1]
                 for _ in range(per_task)] for d in devices]
    waited: list[float] = []

    async def worker(i: int) -> None:
        d = devices[i]
        for s in sessions[i]:
            t0 = time.perf_counter()
            lock = Lockout.key_for_tag(tag_of(s.key), "totp")
            r = await stores.eph.reserve(lock, s.key, stores.lockout.limits, now=time.time())
            assert r.status == "ok", r
            steps[i] += 1
            event = AuditEvent(d.tenant_id, d.user_id, "totp", "verify", "success", d.id)
            if form == FORMS[0]:
                assert await stores.devices.advance_step(d.id, steps[i], time.time(),
                                                         audit=stores.audit, event=event)
                assert await stores.eph.settle(lock, s.key)
            else:
                assert await stores.devices.advance_step(
                    d.id, steps[i], time.time(), audit=stores.audit, event=event,
                    use=TokenUse(s.key.rsplit(":", 1)[1], s.expires_at))
                stores.eph.settle_later(lock, s.key)
            waited.append(time.perf_counter() - t0)

    c0 = time.process_time()
    s0 = {k: sum(cpu_seconds(p) for p in v) for k, v in pids.items()}
    await asyncio.gather(*(worker(i) for i in range(tasks)))
    await stores.eph.flush()  # type: ignore[attr-defined]  # the queued settles count too
    per = 1000 / (per_task * tasks)
    return ((time.process_time() - c0) * per,
            *((sum(cpu_seconds(p) for p in pids[k]) - s0[k]) * per for k in ("redis", "pg")),
            1000 * statistics.mean(waited))  # type: ignore[return-value]


async def measure(rounds: int = 6, n: int = VERIFIES) -> dict[str, tuple[float, ...]]:
    """Per form, the medians of: client, Redis and Postgres CPU ms per verify at 16 at a time,
    ms to the answer at 16, and ms to the answer one at a time (the round trip saved)."""
    name = f"mfa_bench_settle_{os.getpid()}"
    tmp = Path(tempfile.mkdtemp(prefix="mfa-bench-settle-"))
    try:
        async with own_redis() as redis_url:
            env = base_env(tmp, await create_database(name), "WARNING")
            env["MFA_REDIS_URL"] = redis_url
            migrate(env)
            blocks = await _rounds(Settings.from_env(env), rounds, n)
    finally:
        await drop_database(name)
        shutil.rmtree(tmp, ignore_errors=True)
    return {f: tuple(statistics.median(b[i] for b in rows) for i in range(5))
            for f, rows in blocks.items()}


async def _rounds(settings: Settings, rounds: int, n: int) -> dict[str, list[tuple[float, ...]]]:
    """Alternating blocks of both forms, at 16 at a time and one at a time."""
    stores = await data.open_stores(settings)
    try:
        people = data.users("settle", CONCURRENCY)
        devices = list((await data.enroll(settings, stores, people)).values())
        steps = [0] * CONCURRENCY
        await stores.db.fetch("SELECT 1")  # the pool's first connection, before the pids
        pids = {"redis": (await store_pids(settings.database_url, settings.redis_url))["redis"]}
        blocks: dict[str, list[tuple[float, ...]]] = {f: [] for f in FORMS}
        for i in range(rounds):
            for form in (FORMS if i % 2 == 0 else FORMS[::-1]):
                # the backends the pool has opened so far
                pids["pg"] = (await store_pids(settings.database_url,
                                               settings.redis_url))["postgres"]
                many = await _block(stores, form, devices, steps, pids, n, CONCURRENCY)
                one = await _block(stores, form, devices, steps, pids, n // 8, 1)
                blocks[form].append((*many, one[3]))
        return blocks
    finally:
        await stores.close()


def report(medians: dict[str, tuple[float, ...]]) -> list[str]:
    """The lines printed."""
    lines = [f"settle after the answer: per verify's store calls (median block): CPU ms of "
             f"client / Redis / Postgres at {CONCURRENCY} at a time; ms to the answer at "
             f"{CONCURRENCY} and at 1 at a time"]
    for form, (client, redis, pg, wait, alone) in medians.items():
        lines.append(f"  {form:<44} {client:.3f} / {redis:.3f} / {pg:.3f}  total "
                     f"{client + redis + pg:.3f}   answer after {wait:.2f} / {alone:.2f} ms")
    return lines


if __name__ == "__main__":
    import uvloop

    uvloop.install()
    print("\n".join(report(asyncio.run(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 6)))))
