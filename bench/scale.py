"""The scale run's data and measures (`make bench-scale`, `python -m bench --scale`).

Grows the benchmark's own database and Redis to a deployment's size with bulk statements that
run inside the servers (Postgres `generate_series`, one Lua loop per 50,000 Redis keys), the
secondary indexes dropped first and rebuilt after (a sort each, as a restore would), then
`VACUUM ANALYZE` as autovacuum would have done:

- enrolled users: a `mfa_users` row (with a recovery code's HMAC) and a TOTP device whose
  sealed seed has the length of a real one;
- audit rows spread over the last 400 days (so a 365-day retention has about a tenth to
  delete), outbox events over 60 days, delivered and notified;
- trusted devices (remembered browsers);
- lockout records in Redis (a count of three failures each).

Then it reports what the data costs: Postgres bytes per enrolled user, per login (its audit
row and its mfaToken's use), per outbox event and per trusted device (each table with its
indexes, divided by its rows); Redis bytes per live session and per user with lockout state
(used_memory before and after writing them, on a redis-server of the run's own).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import asdict, dataclass
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from bench.data import TENANT
from shared.events import retention
from shared.events.audit import AuditEvent, event_payload


@dataclass(frozen=True)
class Sizes:
    """How much of everything the scale run writes."""

    users: int = 1_000_000
    audit: int = 10_000_000
    outbox: int = 1_000_000
    trusted: int = 100_000
    lockouts: int = 1_000_000

    def times(self, factor: float) -> Sizes:
        """Every size times `factor` (a quick check of the run itself)."""
        return Sizes(**{k: max(1, int(v * factor)) for k, v in asdict(self).items()})


CHUNK = 1_000_000  # rows per INSERT statement
TABLES = ("mfa_users", "mfa_devices", "audit_events", "outbox_events", "remembered_devices")


async def redis_memory(url: str) -> int:
    """used_memory of the server."""
    r = aioredis.Redis.from_url(url)
    try:
        return int((await r.info("memory"))["used_memory"])
    finally:
        await r.aclose()


async def _indexes_off(conn: asyncpg.Connection) -> list[str]:
    """Drop the big tables' secondary indexes and primary keys; the statements that bring
    them back."""
    back = []
    for table in TABLES:
        for name, ddl in await conn.fetch(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = $1::regclass AND contype = 'p'", table):
            await conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
            back.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {ddl}')
        for name, ddl in await conn.fetch(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = $1", table):
            await conn.execute(f'DROP INDEX "{name}"')
            back.append(ddl)
    return back


async def fill_postgres(database_url: str, sizes: Sizes, say: Any) -> None:
    """The enrolled users, audit rows, outbox events and trusted devices."""
    now = time.time()
    conn = await asyncpg.connect(database_url, command_timeout=3600)
    try:
        sample = await conn.fetchrow("SELECT secret FROM mfa_devices WHERE secret IS NOT NULL "
                                     "LIMIT 1")
        secret = sample["secret"] if sample else "k1." + "A" * 80
        payload = json.dumps(event_payload(
            AuditEvent(TENANT, "scale-user-0000000", "totp", "enroll", "success",
                       "scale-dev-0000000", {}), "0" * 36, now, "mfa.factor.enrolled"))
        back = await _indexes_off(conn)
        steps = [
            ("enrolled users", sizes.users,
             "INSERT INTO mfa_users (tenant_id, user_id, email, recovery_hmac, updated_at) "
             "SELECT $3, 'scale-user-' || g, 'scale-user-' || g || '@bench.test', "
             "encode(sha256(g::text::bytea), 'base64'), $4::float8 "
             "FROM generate_series($1::int, $2::int) g"),
            ("their devices", sizes.users,
             "INSERT INTO mfa_devices (id, tenant_id, user_id, kind, name, data, secret, "
             "last_step, created_at, last_used_at) SELECT 'scale-dev-' || g, $3, "
             "'scale-user-' || g, 'totp', 'Authenticator app', '{}', $5, 59000000, $4::float8, "
             "$4::float8 "
             "FROM generate_series($1::int, $2::int) g"),
            ("audit rows", sizes.audit,
             "INSERT INTO audit_events (id, at, tenant_id, user_id, factor, action, outcome, "
             "device_id, request_id, detail) SELECT md5(g::text)::uuid::text, "
             "$4::float8 - (g % 400) * 86400 - (g % 86399), $3, 'scale-user-' || (g % 1000000), "
             "'totp', 'verify', 'success', 'scale-dev-' || (g % 1000000), md5((g + 1)::text), "
             "'{}' FROM generate_series($1::int, $2::int) g"),
            ("outbox events", sizes.outbox,
             "INSERT INTO outbox_events (id, at, tenant_id, user_id, type, payload, attempts, "
             "next_attempt_at, delivered_at, notified_at) SELECT md5('o' || g)::uuid::text, "
             "$4::float8 - (g % 60) * 86400, $3, 'scale-user-' || g, 'mfa.factor.enrolled', "
             "$5, 1, 0, "
             "$4::float8 - (g % 60) * 86400 + 1, $4::float8 - (g % 60) * 86400 + 1 "
             "FROM generate_series($1::int, $2::int) g"),
            ("trusted devices", sizes.trusted,
             "INSERT INTO remembered_devices (token_hash, tenant_id, user_id, expires_at, "
             "created_at, chain_id, label, network, last_used_at) SELECT "
             "encode(sha256(('t' || g)::bytea), 'hex'), $3, 'scale-user-' || g, "
             "$4::float8 + 2592000, "
             "$4::float8, md5('c' || g), 'Chrome on macOS', '203.0.113.0/24', $4::float8 "
             "FROM generate_series($1::int, $2::int) g"),
        ]
        for what, count, sql in steps:
            t0 = time.perf_counter()
            extra = (secret,) if what == "their devices" else (
                (payload,) if what == "outbox events" else ())
            for start in range(1, count + 1, CHUNK):
                await conn.execute(sql, start, min(count, start + CHUNK - 1), TENANT, now,
                                   *extra)
            say(f"  {count:>12,} {what} in {time.perf_counter() - t0:.0f} s")
        t0 = time.perf_counter()
        for ddl in back:
            await conn.execute(ddl)
        await conn.execute("VACUUM ANALYZE")
        say(f"  indexes rebuilt and VACUUM ANALYZE in {time.perf_counter() - t0:.0f} s")
    finally:
        await conn.close()


_LOCKOUTS = """
for i = tonumber(ARGV[2]), tonumber(ARGV[3]) do
  local k = ARGV[1] .. 'lock:{' .. string.format('%016x', i) .. '}:totp'
  redis.call('HSET', k, 'n', 3)
  redis.call('PEXPIRE', k, 604800000)
end
return 1
"""


async def fill_lockouts(redis_url: str, prefix: str, count: int) -> int:
    """`count` users' lockout records (three failures each, expiring like the service's after
    MFA_LOCKOUT_TTL, 7 days); the bytes they added."""
    before = await redis_memory(redis_url)
    r = aioredis.Redis.from_url(redis_url)
    try:
        for start in range(0, count, 50_000):
            await r.eval(_LOCKOUTS, 0, prefix, start, min(count, start + 50_000) - 1)
    finally:
        await r.aclose()
    return await redis_memory(redis_url) - before


async def postgres_bytes(database_url: str) -> dict[str, Any]:
    """Each table's bytes with its indexes and rows, and the per-row figures the run reports."""
    conn = await asyncpg.connect(database_url)
    try:
        tables = {}
        for t in (*TABLES, "mfa_token_uses"):
            size = int(await conn.fetchval("SELECT pg_total_relation_size($1::regclass)", t))
            rows = int(await conn.fetchval(f"SELECT count(*) FROM {t}"))
            tables[t] = {"bytes": size, "rows": rows}
    finally:
        await conn.close()

    def per(t: str) -> float:
        return tables[t]["bytes"] / max(1, tables[t]["rows"])

    return {"tables": tables,  # an enrolled user: one row in each of the two tables
            "per_enrolled_user": per("mfa_users") + per("mfa_devices"),
            "per_login": per("audit_events") + per("mfa_token_uses"),
            "per_audit_row": per("audit_events"), "per_token_use": per("mfa_token_uses"),
            "per_outbox_event": per("outbox_events"),
            "per_trusted_device": per("remembered_devices")}


async def prune_while(database_url: str, exclude: set[int], measure: Any
                      ) -> tuple[Any, dict[str, Any]]:
    """Run `measure()` while the retention prunes (audit rows past 365 days, outbox events
    past 30 days, expired mfaToken uses) in its batches, on a connection of its own whose
    backend goes into `exclude` (its CPU is the prune's, not the requests'); the measurement
    and what the prune did (rows, seconds, its backend's CPU)."""
    from bench.procs import cpu_seconds
    from shared.stores.database import PostgresDatabase

    db = await PostgresDatabase.connect(database_url, min_size=1, max_size=1)
    pid = 0
    try:
        row = await db.fetchrow("SELECT pg_backend_pid() AS pid")
        assert row is not None
        pid = int(row["pid"])
        exclude.add(pid)
        t0, cpu0 = time.perf_counter(), cpu_seconds(pid)
        task = asyncio.create_task(retention.prune(
            db, now=time.time(), audit_days=365, outbox_days=30, webhooks=True,
            notifications=True))
        result = await measure()
        during = time.perf_counter() - t0
        done_during = task.done()
        pruned = await task
        return result, {**asdict(pruned), "seconds": round(time.perf_counter() - t0, 1),
                        "postgres_cpu_s": round(cpu_seconds(pid) - cpu0, 1),
                        "measurement_seconds": round(during, 1),
                        "finished_within_measurement": done_during}
    finally:
        exclude.discard(pid)
        await db.close()


def report(pg: dict[str, Any], session_bytes: float, lockout_bytes: float) -> list[str]:
    """The lines printed about the data's cost."""
    t = pg["tables"]
    return [
        "what the data costs:",
        f"  Postgres per enrolled user (a mfa_users and a mfa_devices row, with indexes): "
        f"{pg['per_enrolled_user']:,.0f} bytes",
        f"  Postgres per login: {pg['per_login']:,.0f} bytes (audit row "
        f"{pg['per_audit_row']:,.0f}, mfaToken use {pg['per_token_use']:,.0f} until it "
        "expires); a TOTP verify writes no outbox event",
        f"  Postgres per outbox event {pg['per_outbox_event']:,.0f} bytes, per trusted device "
        f"{pg['per_trusted_device']:,.0f} bytes",
        f"  Redis per live session: {session_bytes:,.0f} bytes; per user with lockout state: "
        f"{lockout_bytes:,.0f} bytes",
        "  tables: " + ", ".join(f"{k} {v['rows']:,} rows {v['bytes'] / 2**20:,.0f} MiB"
                                 for k, v in t.items()),
    ]
