"""Migrations: the stairway (up, down, up) on both databases, and two migrators at once."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from shared.stores.database import Database, connect
from shared.stores.migrate import applied_versions, load_migrations, migrate
from tests.conftest import PG_ADMIN, pg_admin, run_sync

TABLES = {"mfa_devices", "mfa_users", "remembered_devices", "tenant_policies", "audit_events",
          "recovery_codes", "outbox_events", "mfa_configurations", "mfa_token_uses"}


@pytest.fixture
def fresh_pg(pg_url: str) -> Iterator[str]:
    """An empty Postgres database of its own (the shared test database is already migrated)."""
    name = f"mfa_mig_{uuid.uuid4().hex[:8]}"
    run_sync(pg_admin(f"CREATE DATABASE {name}"))
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        run_sync(pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture(params=["sqlite", "postgres"])
async def empty_db(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[Database]:
    """An unmigrated database of each kind."""
    url = (f"sqlite:///{tmp_path}/m.sqlite3" if request.param == "sqlite"
           else request.getfixturevalue("fresh_pg"))
    db = await connect(url)
    yield db
    await db.close()


async def _tables(db: Database) -> set[str]:
    if db.dialect == "sqlite":
        rows = await db.fetch("SELECT name FROM sqlite_master WHERE type = 'table'")
    else:
        rows = await db.fetch("SELECT tablename AS name FROM pg_tables "
                              "WHERE schemaname = 'public'")
    return {r["name"] for r in rows} - {"schema_migrations"}


async def test_stairway_up_down_up_for_every_migration(empty_db: Database) -> None:
    versions = [m.version for m in load_migrations()]
    for v in versions:
        assert await migrate(empty_db, "up", 1) == [v]
        assert await migrate(empty_db, "down", 1) == [v]
        assert await migrate(empty_db, "up", 1) == [v]
    assert await applied_versions(empty_db) == versions
    assert await _tables(empty_db) == TABLES


async def test_migrate_twice_does_nothing_the_second_time(empty_db: Database) -> None:
    assert await migrate(empty_db, "up") != []
    assert await migrate(empty_db, "up") == []
    await migrate(empty_db, "down", len(load_migrations()))
    assert await _tables(empty_db) == set()


async def test_two_migrator_processes_at_once_apply_each_migration_once(fresh_pg: str) -> None:
    env = {**os.environ, "MFA_DATABASE_URL": fresh_pg}
    procs = [await asyncio.create_subprocess_exec(
        sys.executable, "-m", "shared.stores.migrate", "up", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE) for _ in range(2)]
    outs = [(await asyncio.wait_for(p.communicate(), 60))[0].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert sum("nothing to do" in o for o in outs) == 1, outs
    db = await connect(fresh_pg)
    try:
        assert await applied_versions(db) == [m.version for m in load_migrations()]
    finally:
        await db.close()


async def test_migrations_go_to_their_own_url_when_one_is_given(fresh_pg: str) -> None:
    # MFA_DATABASE_URL names PgBouncer's (here: a port nobody listens on); the migrator must
    # not use it when MFA_MIGRATIONS_DATABASE_URL names Postgres itself.
    env = {**os.environ, "MFA_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none",
           "MFA_MIGRATIONS_DATABASE_URL": fresh_pg}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "shared.stores.migrate", "up", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    db = await connect(fresh_pg)
    try:
        assert await applied_versions(db) == [m.version for m in load_migrations()]
    finally:
        await db.close()
