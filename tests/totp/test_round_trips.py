"""What a TOTP verify asks of Redis and Postgres, counted on the real servers: the session
start carries the user's authenticator in the mfaToken's session, so the verify reads no
device; one reservation before the comparison, one statement (step + audit row + the
mfaToken's single use) before the answer, and the settle queued for after it. And the rows
carried are only a copy: the conditional step UPDATE on Postgres still decides."""

from __future__ import annotations

import pyotp
import pytest

from bench.data import SEED, TENANT, enroll, login_trace, open_stores, users
from services.session.login import start_session
from services.totp.config import load as totp_config
from services.totp.login import verify
from shared.mfa import flow
from shared.mfa.challenges import InvalidChallenge
from shared.settings import Settings
from tests.conftest import make_settings


@pytest.fixture
def settings(keys: dict[str, str], pg_url: str, redis_url: str) -> Settings:
    return make_settings(keys, MFA_DATABASE_URL=pg_url, MFA_REDIS_URL=redis_url)


async def test_verify_is_one_reservation_one_statement_then_the_settle(
        settings: Settings) -> None:
    trips = await login_trace(settings)
    assert [c for c in trips["verify"] if not c.endswith(".close")] == [
        "redis.reserve", "postgres.fetchrow", "redis.settle_later"]
    assert "postgres.fetch" in trips["session start"]  # the one device read, at session start


async def test_a_device_removed_after_session_start_is_refused(settings: Settings) -> None:
    person = users("removed", 1)[0]
    stores = await open_stores(settings)
    try:
        devices = await enroll(settings, stores, [person])
        started = await start_session(stores, user_id=person["userId"], tenant_id=TENANT,
                                      email=person["email"], remember_token=None,
                                      saml_login=False)
        session = await stores.sessions.load(started["mfaToken"])
        assert session is not None and session.devices("totp") == [devices[person["userId"]]]
        assert await stores.devices.delete(TENANT, person["userId"],
                                           devices[person["userId"]].id)
        with pytest.raises(InvalidChallenge):
            async with flow.attempt(stores, "totp", mfa_token=started["mfaToken"]) as a:
                await verify(stores, totp_config(settings), attempt=a,
                             code=pyotp.TOTP(SEED).now(), remember=False)
        # not logged in: the session is still there, one failure counted on it
        assert await stores.sessions.load(started["mfaToken"]) is not None
    finally:
        await stores.close()


async def test_the_bench_floor_makes_the_verify_store_calls_once_per_token(
        settings: Settings, aiohttp_client) -> None:  # type: ignore[no-untyped-def]
    """bench/floor.py (the bench's floor row): a started session's mfaToken is accepted once
    (reservation, step + audit row, settle on the real servers), then refused."""
    from bench.data import start_sessions
    from bench.floor import create_app

    person = users("floor", 1)[0]
    stores = await open_stores(settings)
    try:
        devices = await enroll(settings, stores, [person])
        [token] = await start_sessions(stores, [person], devices)
        client = await aiohttp_client(create_app(settings))
        first = await client.post("/verify", json={"mfaToken": token})
        assert (first.status, await first.json()) == (200, {"ok": True})
        again = await client.post("/verify", json={"mfaToken": token})
        assert again.status == 401
        rows = await stores.audit.for_user(TENANT, person["userId"])
        assert [(r["action"], r["outcome"]) for r in rows] == [("verify", "success")]
    finally:
        await stores.close()
