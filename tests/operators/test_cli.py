"""`python -m services.operators.cli` run as a subprocess against the test run's real Postgres and
Redis (split mode) and against embedded mode's SQLite file: list, reset, unlock, delete,
export the audit trail, adoption."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

import pytest

from tests.conftest import Ids, Stack
from tests.support.operator_access import cli
from tests.support.records import audit_rows, events
from tests.support.totp_flows import LOCK_ENV, enrolled_user, lock_totp


@pytest.fixture
def extra_env() -> dict[str, str]:
    """Lock a factor at 3 failures."""
    return LOCK_ENV


def parsed(out: str) -> Any:
    """The JSON a subcommand printed."""
    return json.loads(out)


async def test_factors_and_reset_from_the_shell(stack: Stack, ids: Ids,
                                                keys: dict[str, str]) -> None:
    await enrolled_user(stack, ids)
    out, _ = await cli(stack, keys, "factors", ids.tenant, ids.user)
    [factor] = parsed(out)["factors"]
    assert factor["kind"] == "totp"
    out, _ = await cli(stack, keys, "reset", ids.tenant, ids.user, "--reason", "ticket 9")
    assert parsed(out) == {"removed": 1, "credentials": {"totp": 1, "recovery": 1}}
    assert await stack.stores.devices.list_for_user(ids.tenant, ids.user) == []
    [row] = await audit_rows(stack, ids, "reset")
    assert json.loads(row["detail"]) == {"actor": "ops-carol", "reason": "ticket 9",
                                         "devicesRemoved": 1,
                                         "removed": {"totp": 1, "recovery": 1}}
    assert "mfa.reset" in await events(stack, ids)
    _, err = await cli(stack, keys, "reset", ids.tenant, ids.user, status=1)
    assert json.loads(err) == {"errors": ["MFA is not enrolled"], "errorCode": "ER-01097"}


async def test_unlock_delete_and_export_from_the_shell(stack: Stack, ids: Ids,
                                                       keys: dict[str, str]) -> None:
    seed = await enrolled_user(stack, ids)
    await lock_totp(stack, ids, seed)
    out, _ = await cli(stack, keys, "unlock", ids.tenant, ids.user, "--factor", "totp")
    state = await stack.stores.lockout.state(ids.tenant, ids.user, "totp",
                                             now=stack.clock.time())
    if stack.mode == "split":
        assert parsed(out) == {"wasLocked": ["totp"]}
        assert not state.locked
    else:  # embedded lockouts live in the server's memory, out of a shell's reach
        assert parsed(out) == {"wasLocked": []} and state.locked
    [device] = await stack.stores.devices.list_for_user(ids.tenant, ids.user)
    await cli(stack, keys, "delete", ids.tenant, ids.user, device.id)
    await cli(stack, keys, "delete", ids.tenant, ids.user, device.id, status=1)
    out, _ = await cli(stack, keys, "export-audit", "--tenant", ids.tenant, "--user", ids.user)
    rows = [json.loads(line) for line in out.splitlines()]
    # the CLI writes at the wall clock's time, the stack at its frozen clock's
    assert {"enroll", "lockout", "unlock", "disable"} <= {r["action"] for r in rows}
    assert len(rows) == len(await stack.stores.audit.for_user(ids.tenant, ids.user))
    out, _ = await cli(stack, keys, "adoption", ids.tenant)
    assert parsed(out)["lockouts"] == 1 and parsed(out)["usersEnrolled"] == 0


async def test_bad_arguments_are_a_usage_error(stack: Stack, keys: dict[str, str]) -> None:
    _, err = await cli(stack, keys, "export-audit", "--from", "yesterday", status=2)
    assert "ISO 8601" in err
    await cli(stack, keys, "launch", status=2)


def test_the_console_script_names_the_cli() -> None:
    import importlib
    import tomllib
    from pathlib import Path

    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    module, _, name = project["project"]["scripts"]["mfa-admin"].partition(":")
    assert callable(getattr(importlib.import_module(module), name))


async def test_prune_outbox_from_the_shell(stack: Stack, ids: Ids, keys: dict[str, str]
                                           ) -> None:
    await enrolled_user(stack, ids)
    if stack.mode == "split":  # the run's shared database: prune nothing of other tests'
        out, _ = await cli(stack, keys, "prune-outbox", "--older-than", "36500")
        assert parsed(out) == {"removed": 0}
        return
    out, _ = await cli(stack, keys, "prune-outbox", "--older-than", "0")
    assert parsed(out)["removed"] >= 1
    assert await stack.stores.outbox.for_user(ids.tenant, ids.user) == []
    assert await audit_rows(stack, ids, "enroll") != []


@pytest.mark.parametrize("only", ["MFA_DATABASE_URL", "MFA_REDIS_URL"])
async def test_half_a_production_configuration_is_refused(only: str) -> None:
    """The review's L9: with one of the two URLs the CLI used to open an in-memory Redis (or
    generated keys) and report success for an unlock that lifted nothing."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MFA_")}
    env[only] = {"MFA_DATABASE_URL": "postgresql://mfa@127.0.0.1:1/mfa",
                 "MFA_REDIS_URL": "redis://127.0.0.1:1/0"}[only]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.operators.cli", "unlock", "t-1", "u-1", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2 and out == b""
    assert f"{only} is set but" in err.decode() and "set both" in err.decode()
