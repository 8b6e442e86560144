"""Each time step is accepted once: at enrollment, at verification, and under concurrency."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.conftest import Ids, Stack
from tests.support.totp_flows import AUTH, USERS, code, enroll, failures, login

PARALLEL = 50


def _detail(row: dict[str, Any]) -> dict[str, Any]:
    """An audit row's detail (JSON text in one database, decoded in another)."""
    detail = row["detail"]
    return json.loads(detail) if isinstance(detail, str) else dict(detail)


async def _statuses(stack: Stack, calls: list) -> list[int]:
    async def one(path: str, body: dict, token: str | None) -> int:
        h = {"Authorization": f"Bearer {token}"} if token else {}
        async with stack.http.post(f"{stack.url}/frontegg/identity{path}", json=body,
                                   headers=h) as r:
            await r.read()
            return r.status

    return list(await asyncio.gather(*(one(*c) for c in calls)))


async def test_login_code_is_refused_the_second_time(stack: Stack, ids: Ids) -> None:
    seed, _ = await enroll(stack, ids)
    used = code(stack, seed)
    await stack.post(f"{AUTH}/verify", {"mfaToken": await login(stack, ids), "value": used})
    token = await login(stack, ids)
    await stack.post(f"{AUTH}/verify", {"mfaToken": token, "value": used}, expected_status=400)
    stack.clock.advance(10)  # still the same step: the same code, still refused
    await stack.post(f"{AUTH}/verify", {"mfaToken": token, "value": used}, expected_status=400)
    refused = await failures(stack, ids)
    assert [f["action"] for f in refused] == ["failure", "failure"], refused  # one per replay
    assert [_detail(f)["reason"] for f in refused] == ["replay", "replay"], refused
    stack.clock.advance(30)
    await stack.post(f"{AUTH}/verify", {"mfaToken": token, "value": code(stack, seed)})


async def test_enrollment_code_is_refused_at_login(stack: Stack, ids: Ids) -> None:
    token = stack.user_token(ids)
    pre = await stack.post(f"{USERS}/authenticator/enroll", token=token)
    used = code(stack, pre["secret"])
    await stack.post(f"{USERS}/authenticator/enroll/verify", {"token": used}, token=token)
    mfa = await login(stack, ids)
    await stack.post(f"{AUTH}/verify", {"mfaToken": mfa, "value": used}, expected_status=400)


async def test_older_step_after_a_newer_one_is_refused(stack: Stack, ids: Ids) -> None:
    seed, _ = await enroll(stack, ids)
    stack.clock.advance(30)
    await stack.post(f"{AUTH}/verify",
                     {"mfaToken": await login(stack, ids), "value": code(stack, seed, 1)})
    await stack.post(f"{AUTH}/verify",
                     {"mfaToken": await login(stack, ids), "value": code(stack, seed)},
                     expected_status=400)


async def test_parallel_login_with_one_code_has_one_winner(stack: Stack, ids: Ids) -> None:
    seed, _ = await enroll(stack, ids)
    tokens = [await login(stack, ids) for _ in range(PARALLEL)]
    value = code(stack, seed)
    statuses = await _statuses(stack, [(f"{AUTH}/verify", {"mfaToken": t, "value": value}, None)
                                       for t in tokens])
    # One winner; the rest are refused: wrong (400) or, once the attempts reserved before
    # them reach the delay, 429 before any comparison (shared.mfa.flow counts first).
    assert statuses.count(200) == 1 and statuses.count(400) + statuses.count(429) == PARALLEL - 1


async def test_parallel_login_on_one_mfa_token_has_one_winner(stack: Stack, ids: Ids) -> None:
    seed, device_id = await enroll(stack, ids)
    token = await login(stack, ids)
    value = code(stack, seed)
    body = {"mfaToken": token, "value": value}
    statuses = await _statuses(stack, [(f"{AUTH}/authenticator/{device_id}/verify", body, None)
                                       for _ in range(PARALLEL)])
    assert statuses.count(200) == 1


async def test_parallel_users_enroll_verify_has_one_winner(stack: Stack, ids: Ids) -> None:
    token = stack.user_token(ids)
    pre = await stack.post(f"{USERS}/enroll", token=token)
    value = code(stack, pre["secret"])
    statuses = await _statuses(stack, [(f"{USERS}/enroll/verify", {"token": value}, token)
                                       for _ in range(PARALLEL)])
    # One winner; the rest are refused: wrong (400) or, once the attempts reserved before
    # them reach the delay, 429 before any comparison (shared.mfa.flow counts first).
    assert statuses.count(200) == 1 and statuses.count(400) + statuses.count(429) == PARALLEL - 1
    assert len(await stack.stores.devices.list_for_user(ids.tenant, ids.user)) == 1


async def test_parallel_forced_enrollment_has_one_winner(stack: Stack, ids: Ids) -> None:
    start = await stack.start_session(ids)
    value = code(stack, start["secret"])
    half = PARALLEL // 2
    calls = [(f"{AUTH}/verify", {"mfaToken": start["mfaToken"], "value": value}, None)] * half
    calls += [(f"{AUTH}/authenticator/enroll/verify",
               {"mfaToken": start["mfaToken"], "token": value}, None)] * (PARALLEL - half)
    statuses = await _statuses(stack, calls)
    assert statuses.count(200) == 1
    assert len(await stack.stores.devices.list_for_user(ids.tenant, ids.user)) == 1


async def test_parallel_disable_with_one_code_removes_once(stack: Stack, ids: Ids) -> None:
    seed, device_id = await enroll(stack, ids)
    token = stack.user_token(ids)
    value = code(stack, seed)
    statuses = await _statuses(stack, [(f"{USERS}/authenticator/{device_id}/disable/verify",
                                        {"token": value}, token) for _ in range(PARALLEL)])
    assert statuses.count(200) == 1
    disables = [r for r in await stack.stores.audit.for_user(ids.tenant, ids.user)
                if r["action"] == "disable"]
    assert len(disables) == 1
