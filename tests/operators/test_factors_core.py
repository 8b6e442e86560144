"""shared.mfa.resets, the core behind the vendor routes, the admin API and the CLI."""

from __future__ import annotations

import asyncio
import json

import pytest

from shared.mfa.resets import (
    Actor,
    NotEnrolled,
    UnknownFactor,
    delete_factor,
    list_factors,
    reset,
    tenants_of,
    unlock,
)
from tests.conftest import Ids, Stack
from tests.support.records import audit_rows, events
from tests.support.totp_flows import LOCK_ENV, USERS, enrolled_user, lock_totp

SUPPORT = Actor("admin-7", "lost phone")


@pytest.fixture
def extra_env() -> dict[str, str]:
    """Lock a factor at 3 failures, no delay before."""
    return LOCK_ENV


async def test_list_shows_each_factor_and_whether_its_kind_is_locked(stack: Stack,
                                                                      ids: Ids) -> None:
    seed = await enrolled_user(stack, ids)
    await lock_totp(stack, ids, seed)
    view = await list_factors(stack.stores, ids.tenant, ids.user)
    [f] = view["factors"]
    assert f["kind"] == "totp" and f["locked"] is True and f["createdAt"].endswith("Z")
    assert {x["factor"]: x["locked"] for x in view["lockouts"]} == {
        "totp": True, "sms": False, "email": False, "webauthn": False, "recovery": False}


async def test_reset_clears_factors_recovery_code_remembered_devices_and_old_tokens(
        stack: Stack, ids: Ids) -> None:
    await enrolled_user(stack, ids, remembered=True)
    old = stack.user_token(ids)
    stack.clock.advance(2)
    assert await reset(stack.stores, SUPPORT, ids.tenant, ids.user) == {"totp": 1,
                                                                       "recovery": 1}
    assert await stack.stores.devices.list_for_user(ids.tenant, ids.user) == []
    assert await stack.stores.recovery.has_code(ids.tenant, ids.user) is False
    res = await stack.get(f"{USERS}/devices", token=old, expected_status=401)
    assert res["errorCode"] == "ER-MFA-TOKEN-RETIRED"
    [row] = await audit_rows(stack, ids, "reset")
    assert json.loads(row["detail"]) == {"actor": "admin-7", "reason": "lost phone",
                                         "devicesRemoved": 1,
                                         "removed": {"totp": 1, "recovery": 1}}
    assert (await events(stack, ids))[-2:] == ["mfa.reset", "mfa.remembered_devices.revoked"]
    with pytest.raises(NotEnrolled):
        await reset(stack.stores, SUPPORT, ids.tenant, ids.user)


async def test_parallel_resets_remove_and_audit_once(stack: Stack, ids: Ids) -> None:
    await enrolled_user(stack, ids)
    results = await asyncio.gather(*(reset(stack.stores, SUPPORT, ids.tenant, ids.user)
                                     for _ in range(5)), return_exceptions=True)
    won = {"totp": 1, "recovery": 1}
    assert results.count(won) == 1
    assert all(isinstance(r, NotEnrolled) for r in results if r != won)
    assert len(await audit_rows(stack, ids, "reset")) == 1
    assert (await events(stack, ids)).count("mfa.reset") == 1


async def test_delete_removes_one_factor_and_refuses_another_users(stack: Stack,
                                                                   ids: Ids) -> None:
    await enrolled_user(stack, ids)
    [device] = await stack.stores.devices.list_for_user(ids.tenant, ids.user)
    other = ids.other()
    with pytest.raises(UnknownFactor):
        await delete_factor(stack.stores, SUPPORT, other.tenant, other.user, device.id)
    await delete_factor(stack.stores, SUPPORT, ids.tenant, ids.user, device.id)
    assert await stack.stores.devices.list_for_user(ids.tenant, ids.user) == []
    assert (await events(stack, ids))[-1] == "mfa.factor.removed"
    with pytest.raises(UnknownFactor):
        await delete_factor(stack.stores, SUPPORT, ids.tenant, ids.user, device.id)


async def test_unlock_lifts_the_lock_and_the_factor_works_again(stack: Stack,
                                                                 ids: Ids) -> None:
    seed = await enrolled_user(stack, ids)
    await lock_totp(stack, ids, seed)
    assert (await events(stack, ids))[-1] == "mfa.factor.locked"
    assert await unlock(stack.stores, SUPPORT, ids.tenant, ids.user, "totp") == ["totp"]
    state = await stack.stores.lockout.state(ids.tenant, ids.user, "totp",
                                             now=stack.clock.time())
    assert state.failures == 0 and not state.locked
    stack.clock.advance(1)  # audit rows are ordered by time
    assert await unlock(stack.stores, SUPPORT, ids.tenant, ids.user) == []
    assert [json.loads(r["detail"])["wasLocked"] for r in await audit_rows(stack, ids,
                                                                           "unlock")] == [
        ["totp"], []]


async def test_tenants_of_a_user(stack: Stack, ids: Ids) -> None:
    await enrolled_user(stack, ids)
    elsewhere = Ids(user=ids.user)
    await stack.start_session(elsewhere)
    assert set(await tenants_of(stack.stores, ids.user)) == {ids.tenant, elsewhere.tenant}
