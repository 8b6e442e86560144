"""Parallel requests for the verify-path tests: send a burst, count what was evaluated.

A proof that was evaluated answers 200 (it held) or 400 (it did not); one refused before any
comparison answers 401 (the mfaToken is burned or used) or 429 (the factor is delayed or
locked). The audit trail has one refused row per evaluated failure."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import PREFIX, Stack


async def burst(stack: Stack, requests: list[tuple[str, dict[str, Any]]], *,
                token: str | None = None) -> list[int]:
    """POST every (path, body) at once through the gateway; the statuses, in order."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def one(path: str, body: dict[str, Any]) -> int:
        async with stack.http.post(stack.url + PREFIX + path, json=body,
                                   headers=headers) as r:
            await r.read()
            return r.status

    return list(await asyncio.gather(*(one(p, b) for p, b in requests)))


def evaluated(statuses: list[int]) -> int:
    """How many proofs were compared (the others were refused before)."""
    assert set(statuses) <= {200, 400, 401, 429}, statuses
    return statuses.count(200) + statuses.count(400)


async def refused_rows(stack: Stack, tenant: str, user: str, factor: str) -> int:
    """The audited failures of one user's factor."""
    rows = await stack.stores.audit.for_user(tenant, user)
    return sum(1 for r in rows if r["factor"] == factor and r["outcome"] == "refused"
               and r["action"] in ("failure", "lockout"))
