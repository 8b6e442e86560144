"""What each Redis client costs on the verify's two scripts (docs/performance.md section 6).

Run: make bench-clients   (installs the candidates' pinned versions, bench/requirements-clients.txt)
     python -m bench.clients [ROUNDS]   (the clients that are installed; redis.asyncio always)

A verify runs two Lua scripts: the reservation before the comparison (load the mfaToken's
session record, count the attempt on it and on the factor's lockout hash) and the settle after
it (delete the session, reset the lockout). This runs that pair, the project's own scripts
(shared.stores.ephemeral) on a session record of the size the session start writes, 16 at a
time on uvloop, through each client against a redis-server of its own:

- redis.asyncio (redis-py with hiredis): what the project uses;
- coredis (compiled parser, anyio), when installed;
- valkey-glide (a Rust core behind a Python wrapper, one multiplexed connection), when installed;
- a bare RESP client on asyncio streams with hiredis's parser (16 connections, no pool, no
  retries, no Cluster or Sentinel): not a candidate, the floor any client here could reach.

Blocks of each client alternate (the order reversed every round), so a shared host's drift
moves all alike; the median block's CPU milliseconds per pair are printed, of this process
(every thread: glide's Rust runtime runs in threads of its own) and of the Redis server.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import hiredis
import redis.asyncio as aioredis

from bench.procs import PG_ADMIN, cpu_seconds, own_redis
from shared.stores.database import PostgresDatabase
from shared.stores.ephemeral import _RESERVE, _SETTLE, RedisEphemeral

CONCURRENCY = 16
PAIRS = 4000  # per block
# The session record of a verify user (shared.mfa.sessions): ids, the tenant's lock threshold,
# one carried TOTP row with its sealed seed; about the size the session start writes.
_RECORD = json.dumps({
    "tenant_id": "t" * 36, "user_id": "u" * 36, "email": "", "lock_at": 0,
    "expires_at": 4e9, "carried": [{"id": "d" * 36, "kind": "totp", "name": "Authenticator",
                                    "secret": "k1." + "s" * 80, "drift": 0,
                                    "created_at": 1.7e9}], "pending": {}})

# One call of a script: (keys, args) -> the reply.
Call = Callable[[list[str], list[Any]], Awaitable[Any]]


class _Client:
    """A connected client: the two scripts as calls, and how to close it."""

    def __init__(self, reserve: Call, settle: Call, close: Callable[[], Awaitable[Any]]) -> None:
        self.reserve, self.settle, self.close = reserve, settle, close


async def _redis_py(port: int) -> _Client:
    """The client exactly as the services open it (timeouts, retry, health checks)."""
    store = RedisEphemeral(f"redis://127.0.0.1:{port}/0")
    r = store._r  # noqa: SLF001 - the very client object the services use
    reserve, settle = r.register_script(_RESERVE), r.register_script(_SETTLE)
    return _Client(lambda k, a: reserve(keys=k, args=a), lambda k, a: settle(keys=k, args=a),
                   store.close)


async def _coredis(port: int) -> _Client:
    import coredis

    r: Any = coredis.Redis(host="127.0.0.1", port=port, max_connections=CONCURRENCY * 2)
    ctx = r.__asynccontextmanager__()  # coredis 6 opens its pool inside an async context
    await ctx.__aenter__()
    reserve, settle = r.register_script(_RESERVE), r.register_script(_SETTLE)
    return _Client(lambda k, a: reserve(keys=k, args=a), lambda k, a: settle(keys=k, args=a),
                   lambda: ctx.__aexit__(None, None, None))


async def _glide(port: int) -> _Client:
    from glide import GlideClient, GlideClientConfiguration, NodeAddress, Script

    g = await GlideClient.create(GlideClientConfiguration(
        [NodeAddress("127.0.0.1", port)], request_timeout=2000))
    reserve, settle = Script(_RESERVE), Script(_SETTLE)
    # glide takes str or bytes arguments only
    return _Client(lambda k, a: g.invoke_script(reserve, keys=k, args=[str(x) for x in a]),
                   lambda k, a: g.invoke_script(settle, keys=k, args=[str(x) for x in a]),
                   g.close)


def _resp(*parts: Any) -> bytes:
    out = [b"*%d\r\n" % len(parts)]
    for p in parts:
        b = p if isinstance(p, bytes) else str(p).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


async def _raw(port: int) -> _Client:
    """One connection per concurrent task, taken from a free list: EVALSHA, read one reply."""
    conns: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, Any]] = []
    for _ in range(CONCURRENCY):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        conns.append((reader, writer, hiredis.Reader()))
    shas = {}
    for name, src in (("reserve", _RESERVE), ("settle", _SETTLE)):
        reader, writer, parser = conns[0]
        writer.write(_resp("SCRIPT", "LOAD", src))
        shas[name] = await _reply(reader, parser)

    async def call(sha: bytes, keys: list[str], args: list[Any]) -> Any:
        conn = conns.pop()
        try:
            conn[1].write(_resp("EVALSHA", sha, len(keys), *keys, *args))
            return await _reply(conn[0], conn[2])
        finally:
            conns.append(conn)

    async def close() -> None:
        for _, writer, _ in conns:
            writer.close()

    return _Client(lambda k, a: call(shas["reserve"], k, a),
                   lambda k, a: call(shas["settle"], k, a), close)


async def _reply(reader: asyncio.StreamReader, parser: Any) -> Any:
    while (reply := parser.gets()) is False:
        parser.feed(await reader.read(65536))
    if isinstance(reply, hiredis.ReplyError):
        raise reply
    return reply


CLIENTS: dict[str, tuple[str | None, Callable[[int], Awaitable[_Client]]]] = {
    "redis.asyncio": (None, _redis_py),
    "coredis": ("coredis", _coredis),
    "valkey-glide": ("glide", _glide),
    "bare RESP (floor)": (None, _raw),
}


async def _block(client: _Client, seed: aioredis.Redis, redis_pid: int, tag: str,
                 pairs: int) -> tuple[float, float]:
    """`pairs` reservations + settles from CONCURRENCY tasks, on sessions written before the
    clock runs; CPU ms per pair of this process and of Redis."""
    per_task = pairs // CONCURRENCY
    pipe = seed.pipeline(transaction=False)
    for i in range(CONCURRENCY):
        for j in range(per_task):
            pipe.hset(f"s:{{{tag}{i}}}:{j}", mapping={"v": _RECORD, "n": 0})
    await pipe.execute()
    now = int(time.time() * 1000)

    async def worker(i: int) -> None:
        lock = f"lock:{{{tag}{i}}}:totp"
        for j in range(per_task):
            keys = [lock, f"s:{{{tag}{i}}}:{j}"]
            res = await client.reserve(keys, [now, 5, 5, 50, 900_000, "1", 7 * 86_400_000])
            if res[0] not in (b"ok", "ok"):
                raise RuntimeError(f"reservation refused: {res!r}")
            if await client.settle(keys, []) != 1:
                raise RuntimeError("settle lost")

    c0, r0 = time.process_time(), cpu_seconds(redis_pid)
    await asyncio.gather(*(worker(i) for i in range(CONCURRENCY)))
    per = 1000 / (per_task * CONCURRENCY)
    return (time.process_time() - c0) * per, (cpu_seconds(redis_pid) - r0) * per


async def measure(rounds: int = 8, pairs: int = PAIRS) -> dict[str, tuple[float, float]]:
    """The median (client, Redis) CPU ms per reservation + settle, per installed client."""
    async with own_redis() as url:
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        seed = aioredis.Redis.from_url(url)
        try:
            pid = int((await seed.info("server"))["process_id"])
            clients = {name: await opener(port) for name, (module, opener) in CLIENTS.items()
                       if module is None or importlib.util.find_spec(module) is not None}
            blocks: dict[str, list[tuple[float, float]]] = {k: [] for k in clients}
            for i in range(rounds):
                for n, name in enumerate(list(clients) if i % 2 == 0 else list(clients)[::-1]):
                    blocks[name].append(await _block(clients[name], seed, pid, f"{i}.{n}",
                                                     pairs))
            for c in clients.values():
                await c.close()
        finally:
            await seed.aclose()
    return {name: (statistics.median(b[0] for b in rows), statistics.median(b[1] for b in rows))
            for name, rows in blocks.items()}


async def _pg_block(form: str, pool: Any, held: list[Any], pg_pids: list[int],
                    statements: int) -> tuple[float, float]:
    """`statements` statements from CONCURRENCY tasks: through the project's pool (acquire,
    statement, release each time) or on a connection each task holds; CPU ms per statement of
    this process and of the Postgres backends."""
    per_task = statements // CONCURRENCY

    async def worker(i: int) -> None:
        for j in range(per_task):
            if form == "pool":
                await pool.fetchrow("SELECT $1::int + 1 AS n", j)
            else:
                await held[i].fetchrow("SELECT $1::int + 1 AS n", j)

    c0, p0 = time.process_time(), sum(cpu_seconds(p) for p in pg_pids)
    await asyncio.gather(*(worker(i) for i in range(CONCURRENCY)))
    per = 1000 / (per_task * CONCURRENCY)
    return ((time.process_time() - c0) * per,
            (sum(cpu_seconds(p) for p in pg_pids) - p0) * per)


async def measure_postgres(rounds: int = 8, statements: int = PAIRS) -> dict[
        str, tuple[float, float]]:
    """The median (client, Postgres) CPU ms per statement: the project's pool (no reset on
    release, shared.stores.database) against a connection held by each task."""
    db = await PostgresDatabase.connect(PG_ADMIN, min_size=CONCURRENCY, max_size=CONCURRENCY)
    pool = db._pool  # noqa: SLF001 - the pool exactly as the services configure it
    held = [await pool.acquire() for _ in range(CONCURRENCY)]
    pids = [int(await c.fetchval("SELECT pg_backend_pid()")) for c in held]
    forms = {"pool acquire per statement": "pool", "connection held": "held"}
    blocks: dict[str, list[tuple[float, float]]] = {k: [] for k in forms}
    try:
        for i in range(rounds):
            for name in (list(forms) if i % 2 == 0 else list(forms)[::-1]):
                if forms[name] == "pool":  # the same backends, back in the pool
                    for c in held:
                        await pool.release(c)
                    held = []
                elif not held:
                    held = [await pool.acquire() for _ in range(CONCURRENCY)]
                blocks[name].append(await _pg_block(forms[name], pool, held, pids, statements))
    finally:
        for c in held:
            await pool.release(c)
        await db.close()
    return {name: (statistics.median(b[0] for b in rows), statistics.median(b[1] for b in rows))
            for name, rows in blocks.items()}


def report_postgres(medians: dict[str, tuple[float, float]]) -> list[str]:
    """The lines printed for the Postgres comparison."""
    base = medians["pool acquire per statement"][0]
    lines = [f"postgres: CPU ms per statement ({CONCURRENCY} at a time, median block)"]
    for name, (client, server) in medians.items():
        lines.append(f"  {name:<27} client {client:.3f}  postgres {server:.3f}  client saves "
                     f"{100 * (base - client) / base:+.0f} %")
    return lines


def report(medians: dict[str, tuple[float, float]]) -> list[str]:
    """The lines printed: per client, CPU ms per pair and its saving against redis.asyncio."""
    base = medians["redis.asyncio"][0]
    lines = [f"redis clients: CPU ms per verify's two scripts (reservation + settle, "
             f"{CONCURRENCY} at a time, median block)"]
    for name, (client, server) in medians.items():
        lines.append(f"  {name:<18} client {client:.3f}  redis {server:.3f}  client saves "
                     f"{100 * (base - client) / base:+.0f} % against redis.asyncio")
    return lines


if __name__ == "__main__":
    import uvloop

    uvloop.install()
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    result = asyncio.run(measure(n))
    print("\n".join(report(result)))
    pg = asyncio.run(measure_postgres(n))
    print("\n".join(report_postgres(pg)))
    print(json.dumps({"redis_clients": result, "postgres_connections": pg}))
