"""Numbered plain-SQL migrations, up and down; safe to run twice and from two processes.

Usage: python -m shared.stores.migrate up|down [STEPS] (MFA_DATABASE_URL names the database).
"""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from shared.settings import env_bool
from shared.stores.database import (
    Database,
    PostgresDatabase,
    SqliteDatabase,
    connect,
    split_statements,
)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_LOCK_ID = 0x4D4641  # "MFA": the advisory lock that serialises concurrent migrators
_TABLE = """CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY, name text NOT NULL, applied_at double precision NOT NULL)"""


@dataclass(frozen=True)
class Migration:
    """One numbered step with its up and down SQL."""

    version: int
    name: str
    up: str
    down: str


def load_migrations(folder: Path = MIGRATIONS_DIR) -> list[Migration]:
    """All migrations in version order (files NNNN_name.up.sql / .down.sql)."""
    out = []
    for up in sorted(folder.glob("*.up.sql")):
        stem = up.name[: -len(".up.sql")]
        version, _, name = stem.partition("_")
        down = up.with_name(f"{stem}.down.sql")
        out.append(Migration(int(version), name, up.read_text(), down.read_text()))
    return out


async def _run(db: Database, direction: str, m: Migration) -> None:
    """Apply one migration's statements and its bookkeeping in one transaction."""
    async with db.transaction() as tx:
        for stmt in split_statements(m.up if direction == "up" else m.down):
            await tx.execute(stmt)
        if direction == "up":
            await tx.execute("INSERT INTO schema_migrations (version, name, applied_at) "
                             "VALUES ($1, $2, $3)", m.version, m.name, time.time())
        else:
            await tx.execute("DELETE FROM schema_migrations WHERE version = $1", m.version)


async def applied_versions(db: Database) -> list[int]:
    """Versions already applied."""
    await db.execute(_TABLE)
    return [r["version"] for r in
            await db.fetch("SELECT version FROM schema_migrations ORDER BY version")]


async def _locked(db: Database, direction: str, steps: int | None) -> list[int]:
    done = set(await applied_versions(db))
    todo = load_migrations()
    changed: list[int] = []
    if direction == "up":
        for m in todo:
            if m.version not in done and (steps is None or len(changed) < steps):
                await _run(db, "up", m)
                changed.append(m.version)
    else:
        for m in reversed(todo):
            if m.version in done and len(changed) < (steps or 1):
                await _run(db, "down", m)
                changed.append(m.version)
    return changed


async def migrate(db: Database, direction: str = "up", steps: int | None = None) -> list[int]:
    """Apply pending migrations (up) or revert `steps` (down, default 1); the versions changed."""
    if direction not in ("up", "down"):
        raise ValueError("direction is up or down")
    if isinstance(db, PostgresDatabase):
        async with db.connection() as conn:
            # A session-level advisory lock: a second migrator waits, then finds nothing to do.
            await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_ID)
            try:
                return await _locked(db, direction, steps)
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_ID)
    if isinstance(db, SqliteDatabase):
        return await _locked(db, direction, steps)
    raise TypeError("unknown database")


async def _main(argv: list[str]) -> int:
    import os

    direction = argv[0] if argv else "up"
    steps = int(argv[1]) if len(argv) > 1 else None
    # Migrations take a session-level advisory lock and run DDL: behind PgBouncer in
    # transaction pooling mode that lock would not hold, so they go to Postgres directly.
    url = (os.environ.get("MFA_MIGRATIONS_DATABASE_URL", "").strip()
           or os.environ.get("MFA_DATABASE_URL", "").strip())
    if not url:
        print("MFA_MIGRATIONS_DATABASE_URL or MFA_DATABASE_URL must be set", file=sys.stderr)
        return 2
    db = await connect(url, allow_unverified=env_bool(os.environ,
                                                     "MFA_DATABASE_ALLOW_UNVERIFIED_TLS", False))
    try:
        changed = await migrate(db, direction, steps)
    finally:
        await db.close()
    print(f"migrate {direction}: {changed or 'nothing to do'}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(_main(sys.argv[1:])))
