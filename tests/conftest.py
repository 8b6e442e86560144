"""Fixtures that build the real stack: the gateway and every service, embedded (memory +
SQLite) and split (each service its own app and port, on real Redis and Postgres)."""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import asyncpg
import pytest
import redis.asyncio as aioredis

from gateway.app import create_app as create_gateway
from gateway.embedded import EMBEDDED_STORES, create_embedded_app
from gateway.routes import service_factories
from shared.clock import FrozenClock
from shared.crypto import b64e
from shared.mfa.tokens import new_signing_key_pem
from shared.settings import Settings
from shared.stores.bundle import Stores, open_stores
from shared.stores.database import connect
from shared.stores.migrate import migrate
from tests.support.responses import ResponseChecker

STRICT = os.environ.get("MFA_TEST_STRICT") == "1"
PG_ADMIN = os.environ.get("MFA_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("MFA_TEST_REDIS_URL", "redis://127.0.0.1:6379/9")
MODES = tuple(os.environ.get("MFA_TEST_MODES", "embedded,split").split(","))
PREFIX = "/frontegg/identity"


def pytest_addoption(parser: pytest.Parser) -> None:
    """`--soak`: the long form of the soak-capable tests (tests/network: longer faults, several
    rounds)."""
    parser.addoption("--soak", action="store_true", default=False,
                     help="run the network-fault harness as a soak (minutes, not seconds)")


def run_sync(coro: Any) -> Any:
    """Run a coroutine to completion from sync code, even inside a running loop."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def pg_admin(sql: str) -> None:
    """Run one statement on the Postgres maintenance database (create/drop databases)."""
    conn = await asyncpg.connect(PG_ADMIN, timeout=3)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def unavailable(what: str) -> None:
    """Skip locally, but fail under MFA_TEST_STRICT=1 (CI), where everything must run."""
    if STRICT:
        pytest.fail(f"{what} is required under MFA_TEST_STRICT=1", pytrace=False)
    pytest.skip(f"{what} is not available")


def require(what: str, probe: Any, errors: tuple[type[BaseException], ...]) -> None:
    """Run the probe (a coroutine); when it raises one of `errors`, `what` is unavailable."""
    try:
        run_sync(probe)
    except errors as e:
        unavailable(f"{what} ({e.__class__.__name__})")


@pytest.fixture(scope="session")
def keys() -> dict[str, str]:
    """Test-only keys, made fresh for the run."""
    return {
        "MFA_JWT_PRIVATE_KEY": new_signing_key_pem(),
        "MFA_JWT_KEY_ID": "test-key",
        "MFA_ENCRYPTION_KEYS": "t1:" + b64e(secrets.token_bytes(32)),
        "MFA_HMAC_KEY": b64e(secrets.token_bytes(32)),
        "MFA_INTERNAL_API_KEY": secrets.token_urlsafe(24),
    }


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh Postgres database for this run, migrated, dropped afterwards."""
    name = f"mfa_test_{os.getpid()}"
    try:
        run_sync(pg_admin(f"DROP DATABASE IF EXISTS {name}"))
        run_sync(pg_admin(f"CREATE DATABASE {name}"))
    except (OSError, asyncpg.PostgresError) as e:
        unavailable(f"Postgres ({e.__class__.__name__})")
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"

    async def up() -> None:
        db = await connect(url)
        await migrate(db, "up")
        await db.close()

    run_sync(up())
    yield url
    run_sync(pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture(scope="session")
def pg_unix_url(pg_url: str) -> str:
    """The run's database over the Postgres server's Unix socket (a Postgres on the same
    host: no TCP stack on either side)."""
    from bench.procs import socket_url

    async def server_addr(url: str) -> Any:
        conn = await asyncpg.connect(url, timeout=3)
        try:
            return await conn.fetchval("SELECT inet_server_addr()")
        finally:
            await conn.close()

    try:
        url = run_sync(socket_url(pg_url))
    except LookupError as e:
        unavailable(f"a Postgres Unix socket ({e})")
    # No server address: the connection is on the socket, not TCP.
    assert run_sync(server_addr(url)) is None
    return url


RUN_PREFIX = f"mfa-test-{uuid.uuid4().hex[:10]}:"


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The Redis for this run; its keys live under a prefix of their own (concurrent runs do
    not touch each other), deleted afterwards."""

    async def ping() -> None:
        r = aioredis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        try:
            await r.ping()
        finally:
            await r.aclose()

    async def clean() -> None:
        r = aioredis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        try:
            async for key in r.scan_iter(match=RUN_PREFIX + "*", count=1000):
                await r.delete(key)
        finally:
            await r.aclose()

    require("Redis", ping(), (OSError, aioredis.ConnectionError))
    yield REDIS_URL
    run_sync(clean())


@pytest.fixture(scope="session")
def redis_unix_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A redis-server of the run's own listening only on a Unix socket (the `unix://` form
    of MFA_REDIS_URL, for a Redis on the same host), stopped afterwards."""
    import shutil
    import subprocess
    import time

    import redis

    binary = shutil.which("redis-server")
    if binary is None:
        unavailable("redis-server (scripts/services-up installs it)")
    d = tmp_path_factory.mktemp("redis-unix")
    sock = d / "redis.sock"
    proc = subprocess.Popen([str(binary), "--port", "0", "--unixsocket", str(sock),
                             "--unixsocketperm", "700", "--save", "", "--appendonly", "no",
                             "--dir", str(d)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while True:
        try:
            with redis.Redis(unix_socket_path=str(sock)) as probe:
                if probe.ping():
                    break
        except (OSError, redis.ConnectionError):
            assert proc.poll() is None and time.monotonic() < deadline, "redis never answered"
            time.sleep(0.05)
    yield f"unix://{sock}?db=0"
    proc.terminate()
    proc.wait(10)


SCALE_DIR = os.environ.get("MFA_SCALE_DIR", "/tmp/mfa-scale")


@pytest.fixture(scope="session")
def scale_urls() -> dict[str, str]:
    """The URLs of the scale-out stores scripts/scale-services started (Redis Cluster,
    Sentinel plain and TLS, a TLS-only Redis, PgBouncer): every one must be there."""
    import json
    from pathlib import Path

    path = Path(SCALE_DIR) / "urls.json"
    urls = json.loads(path.read_text()) if path.exists() else {}
    missing = {"cluster", "cluster_tls", "sentinel", "sentinel_tls", "single_tls",
               "pgbouncer"} - set(urls)
    if missing:
        unavailable(f"the scale-out stores {sorted(missing)} (scripts/scale-services up)")
    return dict(urls)


def scale_redis(scale_urls: dict[str, str], form: str) -> str:
    """The MFA_REDIS_URL of one scale-out form, checked to answer (else skip, or fail under
    MFA_TEST_STRICT=1)."""
    from redis.exceptions import RedisClusterException

    from shared.stores.ephemeral import RedisEphemeral

    async def ping() -> None:
        store = RedisEphemeral(scale_urls[form])
        try:
            await store.ping()
        finally:
            await store.close()

    require(f"Redis {form}", ping(), (OSError, aioredis.RedisError, RedisClusterException))
    return scale_urls[form]


def via_pgbouncer(scale_urls: dict[str, str], pg_url: str) -> str:
    """pg_url's database, reached through PgBouncer (checked to answer)."""
    url = scale_urls["pgbouncer"] + "/" + pg_url.rsplit("/", 1)[1]

    async def ping() -> None:
        conn = await asyncpg.connect(url, timeout=3, statement_cache_size=0)
        await conn.close()

    require("PgBouncer", ping(), (OSError, asyncpg.PostgresError))
    return url


VENDOR_CLAIM = {"MFA_VENDOR_CLAIM": "scope"}  # vendor tokens: `scope` holds `vendor`


def make_settings(keys: dict[str, str], **env: str) -> Settings:
    """Settings for tests: test keys plus the given MFA_* variables (vendor tokens are those
    whose `scope` holds `vendor`)."""
    return Settings.from_env({**keys, "MFA_EXPOSE_INTERNAL_API": "true",
                              "MFA_REDIS_PREFIX": RUN_PREFIX, **VENDOR_CLAIM, **env})


@dataclass
class Ids:
    """Unique tenant, user and email for one test (tests never share state)."""

    tenant: str = field(default_factory=lambda: f"t-{uuid.uuid4().hex[:10]}")
    user: str = field(default_factory=lambda: f"u-{uuid.uuid4().hex[:10]}")

    @property
    def email(self) -> str:
        """The user's email."""
        return f"{self.user}@example.test"

    def other(self) -> Ids:
        """Another user of the same tenant."""
        return Ids(tenant=self.tenant)


_RESPONSES: dict[str, ResponseChecker] = {}


@dataclass
class Stack:
    """A running gateway plus services, and a client to drive it over HTTP."""

    mode: str
    url: str
    session_url: str
    settings: Settings
    stores: Stores
    clock: FrozenClock
    http: aiohttp.ClientSession
    upstreams: dict[str, str] = field(default_factory=dict)

    @property
    def operators_url(self) -> str:
        """The operators service itself (split), or the one embedded process."""
        return self.upstreams.get("operators", self.session_url)

    async def call(self, method: str, path: str, *, json: Any = None, data: Any = None,
                   headers: dict[str, str] | None = None, token: str | None = None,
                   expected_status: int = 200, prefix: str = PREFIX) -> Any:
        """Call the gateway; assert the status; the JSON body (or text when not JSON)."""
        h = {"Content-Type": "application/json", **(headers or {})}
        if token:
            h["Authorization"] = f"Bearer {token}"
        async with self.http.request(method, self.url + prefix + path, json=json, data=data,
                                     headers=h) as r:
            text = await r.text()
            assert r.status == expected_status, f"{method} {path}: {r.status} {text[:500]}"
            try:
                body = await r.json(content_type=None)
            except ValueError:
                body = text
            checker = await self.responses()
            wrong = checker.problems(method, prefix + path, r.status, r.content_type, body)
            assert not wrong, f"{method} {path}: {r.status} does not match its schema: {wrong}"
            return body

    async def responses(self) -> ResponseChecker:
        """The checker built from the gateway's own OpenAPI document (fetched once a run)."""
        if "checker" not in _RESPONSES:
            async with self.http.get(self.url + "/openapi.json") as r:
                assert r.status == 200, await r.text()
                _RESPONSES["checker"] = ResponseChecker(await r.json(), PREFIX)
        return _RESPONSES["checker"]

    async def post(self, path: str, json: Any = None, **kw: Any) -> Any:
        """POST to the gateway."""
        return await self.call("POST", path, json=json, **kw)

    async def get(self, path: str, **kw: Any) -> Any:
        """GET from the gateway."""
        return await self.call("GET", path, **kw)

    async def start_session(self, ids: Ids, *, expected_status: int = 200,
                            **extra: Any) -> dict[str, Any]:
        """The host's session start for a user (internal API)."""
        body = {"userId": ids.user, "tenantId": ids.tenant, "email": ids.email, **extra}
        h = {"Authorization": f"Bearer {self.settings.internal_api_key}"}
        async with self.http.post(self.session_url + "/internal/v1/mfa/sessions", json=body,
                                  headers=h) as r:
            data = await r.json()
            assert r.status == expected_status, data
            return data

    def user_token(self, ids: Ids, **claims: Any) -> str:
        """An access token this service would issue for the user (logged-in routes)."""
        token, _ = self.stores.tokens.issue(user_id=ids.user, tenant_id=ids.tenant,
                                            email=ids.email, amr=["mfa", "otp"], extra=claims)
        return token

    def vendor_token(self, tenant: str = "") -> str:
        """A vendor JWT, bound to `tenant` when given (unbound ones need MFA_VENDOR_UNBOUND)."""
        token, _ = self.stores.tokens.issue(user_id="ops-bot", tenant_id=tenant, email="",
                                            amr=["pwd"], mfa=False,
                                            extra={"scope": "api vendor"})
        return token

    async def set_policy(self, ids: Ids, **policy: Any) -> dict[str, Any]:
        """Save a tenant policy as the tenant's administrator would (a token of another user
        of the tenant with the admin claim: no vendor setting needed, as in the deploy check)."""
        admin, _ = self.stores.tokens.issue(user_id="tenant-admin", tenant_id=ids.tenant,
                                            email="", amr=["mfa", "otp"],
                                            extra={"roles": ["Admin"]})
        h = {"Authorization": f"Bearer {admin}"}
        async with self.http.post(self.operators_url + "/resources/configurations/v1/mfa-policy",
                                  json=policy, headers=h) as r:
            data = await r.json()
            assert r.status == 200, data
            return data


@pytest.fixture
def clock() -> FrozenClock:
    """A frozen clock at the current time, advanced by tests."""
    return FrozenClock()


@pytest.fixture
def extra_env() -> dict[str, str]:
    """Extra MFA_* settings for a test module (override this fixture)."""
    return {}


@pytest.fixture(params=MODES)
async def stack(request: pytest.FixtureRequest, aiohttp_server: Any, keys: dict[str, str],
                clock: FrozenClock, tmp_path: Any, extra_env: dict[str, str]
                ) -> AsyncIterator[Stack]:
    """The whole service over HTTP, embedded and split."""
    mode = request.param
    async with aiohttp.ClientSession() as http:
        if mode == "embedded":
            settings = make_settings(keys, MFA_VAR_DIR=str(tmp_path), **extra_env)
            gw = await aiohttp_server(create_embedded_app(settings, clock))
            stores = gw.app[EMBEDDED_STORES]
            url = str(gw.make_url("")).rstrip("/")
            yield Stack(mode, url, url, settings, stores, clock, http)
            return
        pg = request.getfixturevalue("pg_url")
        rd = request.getfixturevalue("redis_url")
        settings = make_settings(keys, MFA_DATABASE_URL=pg, MFA_REDIS_URL=rd, **extra_env)
        async with split_stack(aiohttp_server, settings, clock, http) as st:
            yield st


@asynccontextmanager
async def split_stack(aiohttp_server: Any, settings: Settings, clock: FrozenClock,
                      http: aiohttp.ClientSession) -> AsyncIterator[Stack]:
    """Every service its own app and port behind the gateway, on the settings' stores."""
    upstreams = {}
    for name, factory in service_factories().items():
        srv = await aiohttp_server(factory(settings, clock=clock))
        upstreams[name] = str(srv.make_url("")).rstrip("/")
    gw = await aiohttp_server(create_gateway(settings, upstreams=upstreams))
    stores = await open_stores(settings, clock)
    try:
        url = str(gw.make_url("")).rstrip("/")
        yield Stack("split", url, upstreams["session"], settings, stores, clock, http,
                    upstreams)
    finally:
        await stores.close()


@pytest.fixture
async def own_redis(tmp_path: Any) -> AsyncIterator[Any]:
    """A redis-server of this test's own, which it may kill and start again (the shared Redis
    is never touched)."""
    from tests.support.redis_server import RedisServer

    server = RedisServer(tmp_path)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def ids() -> Ids:
    """Unique ids for this test."""
    return Ids()


@pytest.fixture
async def fc(stack: Stack) -> AsyncIterator[Any]:
    """Frontegg's real client (tests/contract) pointed at the gateway, which it reaches under
    /frontegg/identity by itself."""
    from tests.contract.frontegg_client import FronteggClient, client_installed

    if not client_installed():
        unavailable("the Frontegg client (npm ci --prefix tests/contract/js)")
    async with FronteggClient(stack.url) as client:
        yield client
