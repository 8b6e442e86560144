"""What a Unix socket saves over loopback TCP, per verify's worth of store calls.

Run: python -m bench.sockets [ROUNDS]   (make bench runs it after the main table)

A verify makes two Redis scripts and one Postgres statement. This runs that set, 16 at a time
on uvloop, over TCP and over the Unix socket of the same servers: a redis-server of its own
listening on both (a free loopback port and a socket in a temporary directory) and the
Postgres the benchmark uses (its `unix_socket_directories`). Blocks of each alternate, so a
machine whose speed drifts (a shared host) moves both alike, and the median block is printed:
the CPU milliseconds of this process (the client's side), of the Redis server and of the
Postgres backends, per set.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import redis.asyncio as aioredis

from bench.procs import PG_ADMIN, cpu_seconds, free_port, socket_url

CONCURRENCY = 16
SETS = 3000  # per block
# The shape of the verify's scripts: read a hash field, count in it.
_SCRIPT = ("local n = redis.call('HINCRBY', KEYS[1], 'n', 1) "
           "return {redis.call('HGET', KEYS[1], 'v'), n}")


async def _block(r: aioredis.Redis, pg: asyncpg.Pool, redis_pid: int, pg_pids: list[int],
                 sets: int) -> tuple[float, float, float]:
    """`sets` sets (script, statement, script) from CONCURRENCY tasks; CPU ms per set of the
    client, Redis and Postgres."""
    sha = await r.script_load(_SCRIPT)

    async def worker(i: int) -> None:
        for j in range(sets // CONCURRENCY):
            await r.evalsha(sha, 1, f"bench-sockets:{i}")
            await pg.fetchval("SELECT $1::int + 1", j)
            await r.evalsha(sha, 1, f"bench-sockets:{i}")

    c0, r0 = time.process_time(), cpu_seconds(redis_pid)
    p0 = sum(cpu_seconds(p) for p in pg_pids)
    await asyncio.gather(*(worker(i) for i in range(CONCURRENCY)))
    per = 1000 / (sets // CONCURRENCY * CONCURRENCY)
    return ((time.process_time() - c0) * per, (cpu_seconds(redis_pid) - r0) * per,
            (sum(cpu_seconds(p) for p in pg_pids) - p0) * per)


async def _open(redis_url: str, pg_url: str, *, socket: bool) -> tuple[
        aioredis.Redis, asyncpg.Pool, int, list[int]]:
    """Clients of both servers, checked to be on the transport the row says."""
    r = aioredis.Redis.from_url(redis_url, max_connections=CONCURRENCY * 2)
    pg = await asyncpg.create_pool(pg_url, min_size=CONCURRENCY, max_size=CONCURRENCY)
    held = [await pg.acquire() for _ in range(CONCURRENCY)]  # every pooled connection's backend
    pids = [int(await c.fetchval("SELECT pg_backend_pid()")) for c in held]
    on_socket = [await c.fetchval("SELECT inet_server_addr()") is None for c in held]
    for c in held:
        await pg.release(c)
    redis_on_socket = str((await r.client_info())["laddr"]).startswith("/")
    if on_socket != [socket] * CONCURRENCY or redis_on_socket != socket:
        raise RuntimeError(f"not every connection is on {'a socket' if socket else 'TCP'}")
    return r, pg, int((await r.info("server"))["process_id"]), pids


async def measure(rounds: int = 8, sets: int = SETS) -> dict[str, tuple[float, float, float]]:
    """The median (client, Redis, Postgres) CPU ms per set, over TCP and over the sockets."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (scripts/services-up installs it)")
    with tempfile.TemporaryDirectory(prefix="mfa-bench-sockets-") as tmp:
        sock, port = Path(tmp) / "redis.sock", free_port()
        server = await asyncio.create_subprocess_exec(
            binary, "--port", str(port), "--bind", "127.0.0.1", "--unixsocket", str(sock),
            "--unixsocketperm", "700", "--save", "", "--appendonly", "no", "--dir", tmp,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(200):
                if sock.exists():
                    break
                await asyncio.sleep(0.05)
            forms = {"loopback TCP": await _open(f"redis://127.0.0.1:{port}/0", PG_ADMIN,
                                                 socket=False),
                     "Unix socket": await _open(f"unix://{sock}?db=0", await socket_url(PG_ADMIN),
                                                socket=True)}
            blocks: dict[str, list[tuple[float, float, float]]] = {k: [] for k in forms}
            for i in range(rounds):
                for name in (list(forms) if i % 2 == 0 else list(forms)[::-1]):
                    blocks[name].append(await _block(*forms[name], sets))
            for r, pg, _, _ in forms.values():
                await r.aclose()
                await pg.close()
        finally:
            server.terminate()
            await server.wait()
    return {name: tuple(statistics.median(b[i] for b in rows) for i in range(3))  # type: ignore[misc]
            for name, rows in blocks.items()}


def report(medians: dict[str, tuple[float, float, float]]) -> list[str]:
    """The lines make bench prints."""
    lines = [f"store transport: CPU ms per verify's store calls (2 Redis scripts + 1 Postgres "
             f"statement, {CONCURRENCY} at a time, median block)"]
    for name, (client, redis, pg) in medians.items():
        lines.append(f"  {name:<13} client {client:.3f}  redis {redis:.3f}  postgres {pg:.3f}"
                     f"  total {client + redis + pg:.3f}")
    tcp, uds = (sum(v) for v in medians.values())
    lines.append(f"  the sockets save {tcp - uds:.3f} ms ({100 * (tcp - uds) / tcp:.0f} %)")
    return lines


if __name__ == "__main__":
    import uvloop

    uvloop.install()
    result = asyncio.run(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 8))
    print("\n".join(report(result)))
