"""Durable state: Postgres (asyncpg) in production, SQLite (aiosqlite) in embedded mode.

SQL is written once, in Postgres style with `$1` placeholders and portable types; the SQLite
implementation rewrites the placeholders to `?1`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import aiosqlite
import asyncpg

Row = dict[str, Any]
_PLACEHOLDER = re.compile(r"\$(\d+)")


class Executor(Protocol):
    """Something that runs SQL: the database or one transaction."""

    async def execute(self, sql: str, *args: Any) -> int:
        """Run a statement; the number of rows it touched."""

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        """All rows."""

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        """The first row or None."""


class Database(Executor, Protocol):
    """A database with transactions."""

    dialect: str

    def transaction(self) -> Any:
        """Async context manager yielding an Executor inside one transaction."""

    async def ping(self) -> None:
        """Raise when the database does not answer."""

    async def close(self) -> None:
        """Release connections."""


def _count(status: str) -> int:
    """Rows touched, from asyncpg's status string ('UPDATE 1')."""
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0


class _PgConn:
    """Executor over one asyncpg connection."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._c = conn

    async def execute(self, sql: str, *args: Any) -> int:
        """Run a statement."""
        return _count(await self._c.execute(sql, *args))

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        """All rows."""
        return [dict(r) for r in await self._c.fetch(sql, *args)]

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        """First row."""
        r = await self._c.fetchrow(sql, *args)
        return None if r is None else dict(r)


async def _keep_session(conn: asyncpg.Connection) -> None:
    """No reset query on release: our connections never change session state."""


# Every wait on Postgres has a bound (docs/network-faults.md): a new connection, a free pooled
# connection, and each statement. A silent Postgres (packets dropped, no reset) costs a request
# at most ACQUIRE_TIMEOUT_S + STATEMENT_TIMEOUT_S, then the 503 envelope.
CONNECT_TIMEOUT_S = 3.0
STATEMENT_TIMEOUT_S = 5.0
ACQUIRE_TIMEOUT_S = 3.0  # includes making a new connection when the pool has room


class PostgresDatabase:
    """asyncpg pool. Connections carry no session state, so the reset on release is skipped
    (it would cost a second round trip per query; docs/performance.md section 3). Every
    statement takes its connection with a timeout: asyncpg's pool.fetch() and friends wait
    for a free connection without one, so while Postgres was silent, requests queued behind
    connections stuck in their own statement timeouts, 10 s and more (the network-fault
    harness, tests/network)."""

    dialect = "postgres"

    def __init__(self, pool: asyncpg.Pool, *, acquire_timeout: float = ACQUIRE_TIMEOUT_S
                 ) -> None:
        self._pool = pool
        self._acquire_timeout = acquire_timeout

    @classmethod
    async def connect(cls, dsn: str, *, min_size: int = 0, max_size: int = 10,
                      statement_cache_size: int = 100,
                      acquire_timeout: float = ACQUIRE_TIMEOUT_S) -> PostgresDatabase:
        """Create the pool lazily (min_size 0), so a down database does not stop start-up.
        `statement_cache_size=0` behind PgBouncer in transaction pooling mode (before 1.21 it
        cannot carry named prepared statements from one server connection to the next):
        asyncpg then sends every query as an unnamed statement, parsed each time."""
        pool = await asyncpg.create_pool(
            dsn, min_size=min_size, max_size=max_size, timeout=CONNECT_TIMEOUT_S,
            command_timeout=STATEMENT_TIMEOUT_S, reset=_keep_session,
            statement_cache_size=statement_cache_size,
        )
        return cls(pool, acquire_timeout=acquire_timeout)

    def _acquire(self) -> Any:
        """A pooled connection within the acquire timeout (asyncio.TimeoutError: a 503)."""
        return self._pool.acquire(timeout=self._acquire_timeout)

    async def execute(self, sql: str, *args: Any) -> int:
        """Run a statement."""
        async with self._acquire() as conn:
            return _count(await conn.execute(sql, *args))

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        """All rows."""
        async with self._acquire() as conn:
            return [dict(r) for r in await conn.fetch(sql, *args)]

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        """First row."""
        async with self._acquire() as conn:
            r = await conn.fetchrow(sql, *args)
        return None if r is None else dict(r)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_PgConn]:
        """One connection, one transaction."""
        async with self._acquire() as conn, conn.transaction():
            yield _PgConn(conn)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A raw connection (migrations take an advisory lock on it)."""
        async with self._acquire() as conn:
            yield conn

    async def ping(self) -> None:
        """Round trip."""
        async with self._acquire() as conn:
            await conn.fetchval("SELECT 1")

    async def close(self) -> None:
        """Close the pool."""
        await asyncio.wait_for(self._pool.close(), 10)


class _SqliteTx:
    """Executor inside an open SQLite transaction."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._c = conn

    async def execute(self, sql: str, *args: Any) -> int:
        """Run a statement."""
        cur = await self._c.execute(_PLACEHOLDER.sub(r"?\1", sql), args)
        return cur.rowcount

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        """All rows."""
        cur = await self._c.execute(_PLACEHOLDER.sub(r"?\1", sql), args)
        return [dict(r) for r in await cur.fetchall()]

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        """First row."""
        rows = await self.fetch(sql, *args)
        return rows[0] if rows else None


def _private_files(path: str) -> None:
    """The database's folder 0700 when we create it; the file 0600 before SQLite opens it."""
    Path(path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for own in (path, f"{path}-wal", f"{path}-shm"):  # also files made before 0600
        if os.path.exists(own):
            os.chmod(own, 0o600)


class SqliteDatabase:
    """One aiosqlite connection; a lock serialises transactions (embedded mode only)."""

    dialect = "sqlite"

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        self._lock = asyncio.Lock()
        self._tx = _SqliteTx(conn)

    @classmethod
    async def connect(cls, path: str) -> SqliteDatabase:
        """Open (and create) the database file: its folder 0700, the file 0600 (it holds
        every enrolled factor); SQLite gives its -wal/-shm files the same mode."""
        if path != ":memory:":
            _private_files(path)
        conn = await aiosqlite.connect(path, isolation_level=None)
        conn.row_factory = aiosqlite.Row
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA foreign_keys=ON")
        return cls(conn)

    async def execute(self, sql: str, *args: Any) -> int:
        """Run a statement (autocommit)."""
        async with self._lock:
            return await self._tx.execute(sql, *args)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        """All rows."""
        async with self._lock:
            return await self._tx.fetch(sql, *args)

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        """First row."""
        async with self._lock:
            return await self._tx.fetchrow(sql, *args)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_SqliteTx]:
        """BEGIN IMMEDIATE .. COMMIT, rolled back on error."""
        async with self._lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._tx
            except BaseException:
                await self._conn.execute("ROLLBACK")
                raise
            await self._conn.execute("COMMIT")

    async def ping(self) -> None:
        """Always local."""
        await self.fetchrow("SELECT 1 AS one")

    async def close(self) -> None:
        """Close the file."""
        await self._conn.close()


def split_statements(sql: str) -> list[str]:
    """Split a migration file on semicolons at line ends (no procedural SQL in migrations)."""
    parts, buf = [], []
    for line in sql.splitlines():
        if line.strip().startswith("--"):
            continue
        buf.append(line)
        if line.rstrip().endswith(";"):
            stmt = "\n".join(buf).strip()
            if stmt.strip(";").strip():
                parts.append(stmt)
            buf = []
    tail = "\n".join(buf).strip()
    if tail:
        parts.append(tail)
    return parts


VERIFIED_SSLMODES = ("verify-full", "verify-ca")


def _host_of(item: str) -> str:
    """The host of one `host[:port]` of a DSN (IPv6 in brackets)."""
    item = item.strip()
    if item.startswith("["):
        return item[1:].partition("]")[0]
    return item.rpartition(":")[0] if item.count(":") == 1 else item


def _local_host(host: str) -> bool:
    """A Unix socket directory, or this machine."""
    host = unquote(host).strip().strip("[]")
    if not host or host.startswith("/") or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_tls(url: str, *, allow_unverified: bool = False) -> None:
    """Refuse a Postgres DSN that reaches another machine without a verified TLS connection
    (asyncpg's default, `prefer`, encrypts without checking the server and falls back to
    plain text), unless the deployment says so (MFA_DATABASE_ALLOW_UNVERIFIED_TLS). The URL is
    never echoed: it holds the password."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    hosts = [_host_of(h) for h in parts.netloc.rpartition("@")[2].split(",")]
    hosts += query.get("host", [])
    if all(_local_host(h) for h in hosts) or allow_unverified:
        return
    mode = (query.get("sslmode") or [os.environ.get("PGSSLMODE", "")])[-1]
    if mode not in VERIFIED_SSLMODES:
        raise ValueError("MFA_DATABASE_URL: a Postgres on another host needs "
                         "sslmode=verify-full (or verify-ca) so its certificate is checked; "
                         "set MFA_DATABASE_ALLOW_UNVERIFIED_TLS=true to accept it without")


async def connect(url: str, *, statement_cache_size: int = 100,
                  allow_unverified: bool = False) -> Database:
    """Open the database named by a URL: postgres://... (checked by check_tls) or
    sqlite:///path."""
    if url.startswith(("postgres://", "postgresql://")):
        check_tls(url, allow_unverified=allow_unverified)
        return await PostgresDatabase.connect(url, statement_cache_size=statement_cache_size)
    if url.startswith("sqlite:///"):
        return await SqliteDatabase.connect(url[len("sqlite:///"):])
    raise ValueError("MFA_DATABASE_URL must be postgresql://... or sqlite:///path")
