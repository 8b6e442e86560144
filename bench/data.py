"""What the benchmark needs before the clock runs: enrolled users (one authenticator each,
written straight into Postgres), started MFA sessions, and a count of the store round trips
one login makes."""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from collections.abc import Callable
from typing import Any

import asyncpg
import pyotp

from shared.clock import SystemClock
from shared.mfa.devices import Device, device_aad
from shared.settings import Settings
from shared.stores.bundle import Stores, build_stores
from shared.stores.database import connect
from shared.stores.ephemeral import RedisEphemeral

TENANT = "bench-tenant"
SEED = pyotp.random_base32()  # one seed for every user: the replay guard is per device


def users(prefix: str, n: int) -> list[dict[str, str]]:
    """n users, as the host's session start names them."""
    return [{"tenantId": TENANT, "userId": f"{prefix}-{i}", "email": f"{prefix}-{i}@bench.test"}
            for i in range(n)]


async def enroll(settings: Settings, stores: Stores, people: list[dict[str, str]]
                 ) -> dict[str, Device]:
    """One authenticator per user, its seed encrypted as the service stores it (COPY: fast);
    the devices by user id."""
    now = time.time()
    made = {}
    for u in people:
        dev = f"bench-dev-{u['userId']}"
        secret = stores.cipher.encrypt(SEED.encode(), device_aad(TENANT, u["userId"], dev))
        made[u["userId"]] = Device(id=dev, tenant_id=TENANT, user_id=u["userId"], kind="totp",
                                   created_at=now, name="Authenticator app", secret=secret)
    cols = ["id", "tenant_id", "user_id", "kind", "name", "data", "secret", "lookup",
            "last_step", "sign_count", "created_at", "last_used_at"]
    rows = [(d.id, d.tenant_id, d.user_id, d.kind, d.name, "{}", d.secret, None, -1, 0,
             d.created_at, None) for d in made.values()]
    conn = await asyncpg.connect(settings.database_url)
    try:
        await conn.copy_records_to_table("mfa_devices", records=rows, columns=cols)
    finally:
        await conn.close()
    return made


async def start_sessions(stores: Stores, people: list[dict[str, str]],
                         devices: dict[str, Device]) -> list[str]:
    """An mfaToken per user, made the way the session start makes it (carrying the user's
    devices as just listed), in batches so the loop never starves its own Redis connections."""
    tokens: list[str] = []
    for i in range(0, len(people), 50):
        made = await asyncio.gather(*(stores.sessions.create(
            tenant_id=TENANT, user_id=u["userId"], email=u["email"],
            devices=[devices[u["userId"]]]) for u in people[i:i + 50]))
        tokens.extend(t for t, _ in made)
    return tokens


class Counting:
    """Forwards to a store and logs each awaited call (one call = one round trip here), and
    each queued settle (`settle_later`: sent after the answer, nothing waits for it)."""

    def __init__(self, inner: Any, name: str, log: list[str]) -> None:
        self._inner, self._name, self._log = inner, name, log

    def __getattr__(self, attr: str) -> Any:
        fn = getattr(self._inner, attr)
        if attr == "settle_later":
            def queued(*args: Any) -> None:
                self._log.append(f"{self._name}.{attr}")
                fn(*args)

            return queued
        if not inspect.iscoroutinefunction(fn):
            return fn

        async def counted(*args: Any, **kw: Any) -> Any:
            self._log.append(f"{self._name}.{attr}")
            return await fn(*args, **kw)

        return counted


async def open_stores(settings: Settings, log: list[str] | None = None) -> Stores:
    """Stores on the benchmark's Redis and Postgres; counted when a log is given."""
    db: Any = await connect(settings.database_url)
    eph: Any = RedisEphemeral(settings.redis_url, prefix=settings.redis_prefix)
    if log is not None:
        db, eph = Counting(db, "postgres", log), Counting(eph, "redis", log)
    return build_stores(settings, SystemClock(), eph, db)


async def trace(settings: Settings, step: Callable[[Stores], Any]) -> list[str]:
    """The store calls one step makes, in order."""
    log: list[str] = []
    stores = await open_stores(settings, log)
    try:
        await step(stores)
    finally:
        await stores.close()
    return log


async def login_trace(settings: Settings) -> dict[str, list[str]]:
    """Round trips of a session start and of a TOTP verify, run through the services' cores
    and the one attempt (shared.mfa.flow) the verify route runs in."""
    from services.session.login import start_session
    from services.totp.config import load as totp_config
    from services.totp.login import verify
    from shared.mfa import flow

    person = users("trace", 1)[0]
    setup = await open_stores(settings)
    try:
        await enroll(settings, setup, [person])
    finally:
        await setup.close()
    started: dict[str, Any] = {}

    async def start(stores: Stores) -> None:
        started.update(await start_session(
            stores, user_id=person["userId"], tenant_id=TENANT, email=person["email"],
            remember_token=None, saml_login=False))

    async def check(stores: Stores) -> None:
        async with flow.attempt(stores, "totp", mfa_token=started["mfaToken"]) as attempt:
            await verify(stores, totp_config(settings), attempt=attempt,
                         code=pyotp.TOTP(SEED).now(), remember=False)

    out = {"session start": await trace(settings, start)}
    out["verify"] = await trace(settings, check)
    return json.loads(json.dumps(out))
