"""Recovery codes under guessing: each attempt is counted before the code is compared, per
(email, client address) and per client address, so a stranger who guesses at a victim's email
from elsewhere cannot block the victim's own recovery."""

from __future__ import annotations

import asyncio

import aiohttp

from tests.conftest import PREFIX, Ids, Stack

RECOVER = "/resources/auth/v1/user/mfa/recover"


async def _from(stack: Stack, ip: str, bodies: list[dict[str, str]]) -> list[int]:
    """POST the bodies at once from a client bound to a loopback address of its own."""
    connector = aiohttp.TCPConnector(local_addr=(ip, 0))
    async with aiohttp.ClientSession(connector=connector) as http:
        async def one(body: dict[str, str]) -> int:
            async with http.post(stack.url + PREFIX + RECOVER, json=body) as r:
                await r.read()
                return r.status

        return list(await asyncio.gather(*(one(b) for b in bodies)))


async def test_parallel_guesses_get_at_most_the_limit_of_comparisons(stack: Stack,
                                                                     ids: Ids) -> None:
    code = await stack.stores.recovery.issue_if_missing(ids.tenant, ids.user, ids.email)
    guesses = [{"email": ids.email, "recoveryCode": f"WRONG-{i:04d}"} for i in range(30)]
    statuses = await _from(stack, "127.0.0.2", guesses)
    assert statuses.count(400) == stack.settings.recovery_attempts, statuses
    assert statuses.count(429) == 30 - stack.settings.recovery_attempts
    # The right code from the same address is refused too: the count is reached.
    assert await _from(stack, "127.0.0.2", [{"email": ids.email, "recoveryCode": code}]) == [429]


async def test_a_stranger_cannot_block_the_owners_recovery(stack: Stack, ids: Ids) -> None:
    code = await stack.stores.recovery.issue_if_missing(ids.tenant, ids.user, ids.email)
    junk = [{"email": ids.email, "recoveryCode": "WRONG-CODE"}] * 12
    assert 429 in await _from(stack, "127.0.0.3", junk)
    assert await _from(stack, "127.0.0.4", [{"email": ids.email, "recoveryCode": code}]) == [200]
    rows = await stack.stores.audit.for_user(ids.tenant, ids.user)
    # The stranger's throttled tries are one grouped "refused" row (docs/operators.md).
    assert sorted(r["action"] for r in rows if r["factor"] == "recovery") == ["recovery", "refused"]


async def test_one_address_is_capped_across_emails(stack: Stack, ids: Ids) -> None:
    cap = stack.settings.recovery_ip_limit
    guesses = [{"email": f"u{i}@example.test", "recoveryCode": "WRONG-CODE"}
               for i in range(cap + 5)]
    statuses = await _from(stack, "127.0.0.5", guesses)
    assert statuses.count(400) == cap and statuses.count(429) == 5, statuses
