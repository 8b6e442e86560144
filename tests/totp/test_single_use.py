"""The mfaToken's single use, decided by Postgres in the statement that writes the login's
success, and the Redis settle (delete the session, reset the lockout) sent after the answer:
one winner among 50 parallel requests, at most 5 proofs evaluated per mfaToken, the lockout
reset by the success, and what a Redis fault between the answer and the settle leaves."""

from __future__ import annotations

import asyncio
import logging

import pyotp
import pytest
import redis.asyncio as aioredis

from bench.data import SEED, TENANT, open_stores, users
from bench.data import enroll as bench_enroll
from services.session.login import start_session
from services.totp.config import load as totp_config
from services.totp.login import verify
from shared.http.errors import MfaError
from shared.mfa import flow
from shared.settings import Settings
from tests.conftest import Ids, Stack, make_settings
from tests.support.bursts import burst, refused_rows
from tests.support.codes import wrong_code
from tests.support.totp_flows import AUTH, code, enroll, login

PARALLEL = 50
MAX_TOKEN_FAILURES = 5  # MFA_TOKEN_MAX_FAILURES
DEVICES = MAX_TOKEN_FAILURES + 1


async def _until(check, what: str) -> None:  # type: ignore[no-untyped-def]
    """Wait for an effect of the settle, which runs after the answer (a deadline, not a
    speed check)."""
    for _ in range(200):
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"never: {what}")


async def test_fifty_parallel_right_codes_on_one_mfa_token_one_wins(stack: Stack,
                                                                   ids: Ids) -> None:
    """Six authenticators, 50 requests each with the right code of one of them: the
    reservation admits five, each compares a right code of its own device (so the step
    advance holds for each), and the token's recorded use lets exactly one log in."""
    seeds = [(await enroll(stack, ids))[0] for _ in range(DEVICES)]
    # A failure before: the success must reset the count (and the burst's reservations).
    await stack.post(f"{AUTH}/verify", {"mfaToken": await login(stack, ids),
                                        "value": wrong_code(code(stack, seeds[0]))},
                     expected_status=400)
    before = await stack.stores.lockout.state(ids.tenant, ids.user, "totp",
                                              now=stack.clock.time())
    assert before.failures == 1
    token = await login(stack, ids)
    steps_before = {d.id: d.last_step for d in
                    await stack.stores.devices.list_for_user(ids.tenant, ids.user, "totp")}
    statuses = await burst(stack, [(f"{AUTH}/verify", {"mfaToken": token,
                                                       "value": code(stack, seeds[i % DEVICES])})
                                   for i in range(PARALLEL)])
    assert statuses.count(200) == 1, statuses
    # 401: the token burned (5 reserved), or its use recorded by another request; 429: the
    # lockout's delay, reached by the reservations counted on the user too.
    assert set(statuses) <= {200, 400, 401, 429}, statuses
    # Evaluated = compared: a right code of an unused step advanced its device, a second
    # request for the same device was audited as a replay. Never more than five.
    after = await stack.stores.devices.list_for_user(ids.tenant, ids.user, "totp")
    advanced = sum(1 for d in after if d.last_step != steps_before[d.id])
    replays = await refused_rows(stack, ids.tenant, ids.user, "totp") - 1
    assert 1 <= advanced + replays <= MAX_TOKEN_FAILURES, (advanced, replays)
    rows = await stack.stores.audit.for_user(ids.tenant, ids.user)
    assert [r["action"] for r in rows if r["outcome"] == "success"].count("verify") == 1

    async def settled() -> bool:
        state = await stack.stores.lockout.state(ids.tenant, ids.user, "totp",
                                                 now=stack.clock.time())
        return state.failures == 0 and await stack.stores.sessions.load(token) is None

    await _until(settled, "the session deleted and the lockout reset")
    again = await stack.post(f"{AUTH}/verify", {"mfaToken": token,
                                                "value": code(stack, seeds[-1], 1)},
                             expected_status=401)
    assert again["errorCode"] == "ER-MFA-INVALID-MFA-TOKEN"


@pytest.fixture
def settings(keys: dict[str, str], pg_url: str, own_redis) -> Settings:  # type: ignore[no-untyped-def]
    return make_settings(keys, MFA_DATABASE_URL=pg_url, MFA_REDIS_URL=own_redis.url)


async def _verify(stores, settings: Settings, token: str, value: str):  # type: ignore[no-untyped-def]
    async with flow.attempt(stores, "totp", mfa_token=token) as a:
        return await verify(stores, totp_config(settings), attempt=a, code=value,
                            remember=False)


async def test_a_redis_fault_between_the_answer_and_the_settle(
        settings: Settings, own_redis, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    """Redis stops taking writes after the reservation: the login is answered all the same
    (Postgres recorded the use), the settle fails, is tried once more, and is dropped with a
    warning. Left behind until the session's TTL: the session record (a proof with the token
    is refused by Postgres) and the user's lockout count (reset by their next success, as in
    the test above)."""
    person = users("settle-fault", 1)[0]
    stores = await open_stores(settings)
    admin = aioredis.Redis.from_url(own_redis.url)
    try:
        await bench_enroll(settings, stores, [person])
        started = await start_session(stores, user_id=person["userId"], tenant_id=TENANT,
                                      email=person["email"], remember_token=None,
                                      saml_login=False)
        token, totp = started["mfaToken"], pyotp.TOTP(SEED)
        with pytest.raises(MfaError):  # one failure on the lockout count
            await _verify(stores, settings, token, wrong_code(totp.now()))
        async with flow.attempt(stores, "totp", mfa_token=token) as a:
            await admin.execute_command("CLIENT", "PAUSE", 60_000, "WRITE")  # the fault
            result = await verify(stores, totp_config(settings), attempt=a, code=totp.now(),
                                  remember=False)
        assert result.body["accessToken"]
        # Answered while Redis took no writes: the session is still there (reads still work).
        assert await stores.sessions.load(token) is not None
        with caplog.at_level(logging.WARNING, logger="shared.stores.ephemeral"):
            await stores.close()  # waits for the queued settle: it times out twice
        warned = [r for r in caplog.records if r.getMessage() == "redis settle failed"]
        assert [r.fields["retry"] for r in warned] == [True, False]  # type: ignore[attr-defined]
        assert all(person["userId"] not in str(r.__dict__) for r in warned)
        await admin.execute_command("CLIENT", "UNPAUSE")
        stores = await open_stores(settings)
        # What the fault left: the session and the count ...
        assert await stores.sessions.load(token) is not None
        lock = await stores.lockout.state(TENANT, person["userId"], "totp", now=stores.clock.time())
        assert lock.failures == 2  # the wrong code and the winning attempt's reservation
        # ... but the token's use is in Postgres: the next right code on it is refused.
        with pytest.raises(flow.InvalidMfaToken):
            await _verify(stores, settings, token, totp.at(stores.clock.now(), counter_offset=1))
        rows = await stores.audit.for_user(TENANT, person["userId"])
        assert [r["outcome"] for r in rows if r["action"] == "verify"] == ["success"]
    finally:
        await admin.execute_command("CLIENT", "UNPAUSE")
        await admin.aclose()
        await stores.close()
