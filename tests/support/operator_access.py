"""How an operator reaches the service in tests: the CLI as a subprocess (`python -m
services.operators.cli`), a vendor JWT's headers, the internal API key's."""

from __future__ import annotations

import asyncio
import os
import sys

from tests.conftest import RUN_PREFIX, Ids, Stack
from tests.support.totp_flows import LOCK_ENV


async def cli(stack: Stack, keys: dict[str, str], *args: str,
              status: int = 0) -> tuple[str, str]:
    """Run the CLI with the stack's configuration; (stdout, stderr)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MFA_")}
    env.update({**keys, **LOCK_ENV, "MFA_REDIS_PREFIX": RUN_PREFIX})
    s = stack.settings
    if stack.mode == "split":
        env.update({"MFA_DATABASE_URL": s.database_url, "MFA_REDIS_URL": s.redis_url})
    else:
        env["MFA_VAR_DIR"] = s.var_dir
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.operators.cli", "--actor", "ops-carol", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == status, (out, err)
    return out.decode(), err.decode()


def key(stack: Stack, ids: Ids | None = None, tenant: bool = True) -> dict[str, str]:
    """A vendor credential with the subject headers: a vendor JWT bound to the user's tenant,
    or unbound (MFA_VENDOR_UNBOUND) without `ids` or with `tenant=False` (every tenant)."""
    bound = ids.tenant if ids is not None and tenant else ""
    h = {"Authorization": f"Bearer {vendor_token(stack, bound)}"}
    if ids is not None:
        h["frontegg-user-id"] = ids.user
        if tenant:
            h["frontegg-tenant-id"] = ids.tenant
    return h


def internal_key(stack: Stack) -> dict[str, str]:
    """The internal API key (the internal API's credential; on a public route only with
    MFA_VENDOR_ACCEPTS_INTERNAL_KEY)."""
    return {"Authorization": f"Bearer {stack.settings.internal_api_key}"}


def vendor_token(stack: Stack, tenant: str = "") -> str:
    """A vendor JWT (bound to `tenant` when given)."""
    return stack.vendor_token(tenant)
