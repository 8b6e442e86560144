"""Races inside one process: the factor core driven directly, with a challenge store that
waits a moment before every operation, so parallel verifications interleave at every
step (over HTTP the winner usually finishes before the others look)."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from services.email import factor
from shared.challenges import ChallengeStore, InvalidChallenge, UnknownChallenge
from shared.flow import LoginResult
from shared.stores import Stores
from tests.conftest import Ids, Stack
from tests.email.conftest import login_code
from tests.email.mailserver import SmtpServer


class Yielding:
    """An ephemeral store that lets every other task catch up before each of its operations."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not asyncio.iscoroutinefunction(attr):
            return attr

        async def interleaved(*args: Any, **kwargs: Any) -> Any:
            await asyncio.sleep(0.01)  # long enough for every task to catch up
            return await attr(*args, **kwargs)

        return interleaved


def interleaving(stores: Stores) -> Stores:
    """The same stores with an interleaving challenge store."""
    eph = Yielding(stores.eph)
    return dataclasses.replace(stores, challenges=ChallengeStore(eph, stores.hasher,
                                                                 stores.clock))


async def test_interleaved_verifications_have_one_winner_and_count_no_failure(
        stack: Stack, ids: Ids, smtp: SmtpServer) -> None:
    token, otc, code = await login_code(stack, ids, smtp)
    stores = interleaving(stack.stores)
    results = await asyncio.gather(*(
        factor.verify_code(stores, mfa_token=token, otc_token=otc, code=code,
                           remember_device=False) for _ in range(5)), return_exceptions=True)
    assert sum(isinstance(r, LoginResult) for r in results) == 1, results
    assert all(isinstance(r, UnknownChallenge) for r in results
               if not isinstance(r, LoginResult)), results
    audit = await stack.stores.audit.for_user(ids.tenant, ids.user)
    assert not [a for a in audit if a["factor"] == "email" and a["outcome"] == "refused"]


async def test_interleaved_wrong_codes_are_all_counted(stack: Stack, ids: Ids,
                                                       smtp: SmtpServer) -> None:
    token, otc, code = await login_code(stack, ids, smtp)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    stores = interleaving(stack.stores)
    results = await asyncio.gather(*(
        factor.verify_code(stores, mfa_token=token, otc_token=otc, code=wrong,
                           remember_device=False) for _ in range(3)), return_exceptions=True)
    assert all(type(r) is InvalidChallenge for r in results), results
    audit = await stack.stores.audit.for_user(ids.tenant, ids.user)
    assert len([a for a in audit if a["factor"] == "email" and a["outcome"] == "refused"]) == 3
