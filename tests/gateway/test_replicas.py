"""Several replicas of a service behind the gateway (gateway/upstreams.py): two real totp
processes share the load, and when one is stopped with SIGTERM in the middle of a login load
no login is lost (in-flight ones finish there, new ones go to the other)."""

from __future__ import annotations

import asyncio
import re
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pyotp
import pytest

from gateway.app import create_app as create_gateway
from gateway.routes import service_factories
from gateway.upstreams import PENALTY_S, Replicas
from shared.clock import SystemClock
from tests.conftest import RUN_PREFIX, Ids, make_settings
from tests.support.gateway_process import PartProcess

AUTH = "/frontegg/identity/resources/auth/v1/user/mfa"
WORKERS = 6


def test_replicas_take_turns_and_a_refusing_one_goes_last() -> None:
    now = [100.0]
    r = Replicas.parse("http://a:1, http://b:2/,http://c:3")
    assert [r.order()[0] for _ in range(4)] == ["http://a:1", "http://b:2", "http://c:3",
                                                "http://a:1"]
    r.refused("http://b:2")
    r._now = lambda: now[0]  # noqa: SLF001 - the injected clock
    r.refused("http://b:2")
    assert all(r.order()[-1] == "http://b:2" for _ in range(3))
    now[0] += PENALTY_S + 0.1
    assert {r.order()[0] for _ in range(3)} == {"http://a:1", "http://b:2", "http://c:3"}


@pytest.mark.parametrize("setting", ["", "a:1", "http://a:1,ftp://b:2"])
def test_a_bad_upstream_setting_is_refused(setting: str) -> None:
    with pytest.raises(ValueError):
        Replicas.parse(setting)


class TotpProcess(PartProcess):
    """`python -m services.totp` on a free port."""

    def __init__(self, env: dict[str, str]) -> None:
        super().__init__(env, "services.totp")
        self.url = self.base

    async def logins(self, http: aiohttp.ClientSession) -> int:
        """Successful TOTP verifications this process counted (its /metrics)."""
        async with http.get(self.url + "/metrics") as r:
            text = await r.text()
        found = re.search(r'mfa_verify_total\{factor="totp",outcome="success"\} (\S+)', text)
        return int(float(found.group(1))) if found else 0


@pytest.fixture
async def two_totps(keys: dict[str, str], pg_url: str, redis_url: str,
                    tmp_path: Path) -> AsyncIterator[tuple[TotpProcess, TotpProcess]]:
    """Two totp processes on the same Redis and Postgres."""
    env = {**keys, "MFA_DATABASE_URL": pg_url, "MFA_REDIS_URL": redis_url,
           "MFA_REDIS_PREFIX": RUN_PREFIX, "MFA_VAR_DIR": str(tmp_path),
           "MFA_LOG_LEVEL": "WARNING", "MFA_SHUTDOWN_GRACE": "10",
           "MFA_INTERNAL_API_KEY": keys["MFA_INTERNAL_API_KEY"] * 2}
    procs = (TotpProcess(env), TotpProcess(env))
    try:
        await asyncio.gather(*(p.start(stdout=asyncio.subprocess.DEVNULL,
                                       stderr=asyncio.subprocess.DEVNULL) for p in procs))
        yield procs
    finally:
        for p in procs:
            await p.kill()


async def one_login(http: aiohttp.ClientSession, gateway: str, session: str,
                    key: str) -> int:
    """A new user's forced enrollment at login through the gateway: the verify's status."""
    ids = Ids()
    async with http.post(session + "/internal/v1/mfa/sessions",
                         json={"userId": ids.user, "tenantId": ids.tenant, "email": ids.email},
                         headers={"Authorization": f"Bearer {key}"}) as r:
        assert r.status == 200, await r.text()
        start = await r.json()
    async with http.post(gateway + AUTH + "/verify",
                         json={"mfaToken": start["mfaToken"],
                               "value": pyotp.TOTP(start["secret"]).now()}) as r:
        await r.read()
        return r.status


async def test_two_totp_replicas_share_the_load_and_a_sigterm_loses_no_login(
        two_totps: tuple[TotpProcess, TotpProcess], keys: dict[str, str], pg_url: str,
        redis_url: str, aiohttp_server: Any) -> None:
    a, b = two_totps
    key = keys["MFA_INTERNAL_API_KEY"] * 2
    settings = make_settings({**keys, "MFA_INTERNAL_API_KEY": key}, MFA_DATABASE_URL=pg_url,
                             MFA_REDIS_URL=redis_url)
    session = await aiohttp_server(service_factories()["session"](settings,
                                                                   clock=SystemClock()))
    session_url = str(session.make_url("")).rstrip("/")
    gw = await aiohttp_server(create_gateway(settings, upstreams={
        "session": session_url, "totp": f"{a.url},{b.url}"}))
    gateway = str(gw.make_url("")).rstrip("/")
    async with aiohttp.ClientSession() as http:
        statuses = [await one_login(http, gateway, session_url, key) for _ in range(20)]
        assert statuses == [200] * 20
        assert (await a.logins(http), await b.logins(http)) == (10, 10)  # round-robin

        results: list[int] = []
        stop, reached, target = asyncio.Event(), asyncio.Event(), [30]

        async def worker() -> None:
            while not stop.is_set():
                results.append(await one_login(http, gateway, session_url, key))
                if len(results) >= target[0]:
                    reached.set()

        workers = [asyncio.create_task(worker()) for _ in range(WORKERS)]
        await asyncio.wait_for(reached.wait(), 120)
        assert a.proc is not None
        a.proc.send_signal(signal.SIGTERM)  # mid-load
        assert await a.wait_exit() == 0
        reached.clear()
        target[0] = len(results) + 30
        await asyncio.wait_for(reached.wait(), 120)
        stop.set()
        await asyncio.gather(*workers)
        assert results == [200] * len(results), sorted(set(results))
        assert await b.logins(http) > 10 + 15  # it took the load on


@pytest.fixture
def silent_port() -> Any:
    """A port whose connects are never answered (its listen backlog is full, so the kernel
    drops every further SYN): a replica behind a partition, which never refuses."""
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    queued = socket.create_connection(("127.0.0.1", port))  # fills the backlog
    yield port
    queued.close()
    server.close()


async def test_a_replica_that_never_answers_the_connect_is_passed_over(
        aiohttp_server: Any, keys: dict[str, str], silent_port: int) -> None:
    from aiohttp import web

    async def answer(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    live = web.Application()
    live.router.add_route("*", "/{tail:.*}", answer)
    up = await aiohttp_server(live)
    settings = make_settings(keys, MFA_UPSTREAM_TIMEOUT="3", MFA_UPSTREAM_CONNECT_TIMEOUT="0.3")
    replicas = f"http://127.0.0.1:{silent_port},{str(up.make_url('')).rstrip('/')}"
    gw = await aiohttp_server(create_gateway(settings, upstreams={"totp": replicas}))
    async with aiohttp.ClientSession() as http:
        async def verify() -> int:
            async with http.post(gw.make_url(f"{AUTH}/verify"), json={}) as r:
                return r.status

        # Round-robin sends every other request to the silent replica first: each must still
        # be answered by the live one, within the one upstream timeout.
        assert await asyncio.gather(*(verify() for _ in range(6))) == [200] * 6
        assert [await verify() for _ in range(4)] == [200] * 4


@pytest.mark.parametrize("value", ["0", "-1"])
def test_the_connect_timeout_is_positive(keys: dict[str, str], value: str) -> None:
    with pytest.raises(ValueError, match="MFA_UPSTREAM_CONNECT_TIMEOUT"):
        make_settings(keys, MFA_UPSTREAM_CONNECT_TIMEOUT=value)


async def test_a_replica_that_timed_out_is_tried_last_for_a_while(
        aiohttp_server: Any, keys: dict[str, str]) -> None:
    from aiohttp import web

    async def never(request: web.Request) -> web.Response:
        await asyncio.sleep(60)
        return web.json_response({})

    async def answer(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    urls = []
    for handler in (never, answer):
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        urls.append(str((await aiohttp_server(app)).make_url("")).rstrip("/"))
    settings = make_settings(keys, MFA_UPSTREAM_TIMEOUT="1")
    gw = await aiohttp_server(create_gateway(settings, upstreams={"totp": ",".join(urls)}))
    async with aiohttp.ClientSession() as http:
        statuses = []
        for _ in range(4):  # round-robin would send the third to the silent one again
            async with http.post(gw.make_url(f"{AUTH}/verify"), json={}) as r:
                statuses.append(r.status)
    assert statuses == [504, 200, 200, 200]
