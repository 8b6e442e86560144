"""Split mode as real processes: scripts/run-split on configured ports, and a service that
refuses to start with a short internal API key."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import aiohttp

from bench.procs import free_port
from gateway.embedded import create_embedded_app
from tests.conftest import RUN_PREFIX, make_settings
from tests.support.gateway_process import STARTUP_S

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("session", "totp", "sms", "email", "webauthn", "operators")


def _free_run(n: int) -> int:
    """The first of n consecutive loopback ports that are free right now."""
    while True:
        base = free_port()
        if base + n > 65535:
            continue
        socks = []
        try:
            for p in range(base, base + n):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()


async def _healthz(http: aiohttp.ClientSession, port: int) -> Any:
    async with http.get(f"http://127.0.0.1:{port}/healthz") as r:
        assert r.status == 200
        return await r.json()


async def test_run_split_serves_on_the_configured_ports(
        keys: dict[str, str], pg_url: str, redis_url: str, tmp_path: Path) -> None:
    base, gateway, sms = _free_run(5), free_port(), free_port()
    env = {**os.environ, "PY": sys.executable, "MFA_DATABASE_URL": pg_url,
           "MFA_REDIS_URL": redis_url, "MFA_REDIS_PREFIX": RUN_PREFIX,
           "MFA_VAR_DIR": str(tmp_path), "MFA_LOG_LEVEL": "WARNING", "MFA_PORT": str(gateway),
           "MFA_SPLIT_BASE_PORT": str(base), "MFA_SMS_PORT": str(sms)}
    proc = await asyncio.create_subprocess_exec(
        str(REPO / "scripts" / "run-split"), env=env, start_new_session=True,
        stdout=asyncio.subprocess.DEVNULL)
    expected = {name: base + i for i, name in enumerate(SERVICES)} | {"sms": sms}
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STARTUP_S * 2  # migrations, then six interpreters
        async with aiohttp.ClientSession() as http:
            while True:  # the gateway is ready only when every upstream is
                assert proc.returncode is None, f"run-split exited {proc.returncode}"
                try:
                    async with http.get(f"http://127.0.0.1:{gateway}/readyz") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    pass
                assert loop.time() < deadline, "split mode never became ready"
                await asyncio.sleep(0.1)
            for name, port in expected.items():
                assert (await _healthz(http, port))["service"] == name
    finally:
        if proc.returncode is None:
            os.killpg(proc.pid, signal.SIGTERM)  # the script's own process group
            try:
                await asyncio.wait_for(proc.wait(), STARTUP_S)
            except TimeoutError:
                os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()


async def test_run_split_refuses_a_port_given_twice(tmp_path: Path) -> None:
    env = {**os.environ, "PY": sys.executable, "MFA_VAR_DIR": str(tmp_path),
           "MFA_PORT": "18081", "MFA_SPLIT_BASE_PORT": "18081",
           # nothing listens there: the check must come before any database work
           "MFA_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none",
           "MFA_REDIS_URL": "redis://127.0.0.1:1/0"}
    done = await asyncio.create_subprocess_exec(
        str(REPO / "scripts" / "run-split"), env=env, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(done.communicate(), STARTUP_S * 2)
    assert done.returncode == 2 and b"port 18081 is given twice" in err


async def test_a_split_service_refuses_a_short_internal_api_key(
        keys: dict[str, str], pg_url: str, redis_url: str) -> None:
    env = {**os.environ, **keys, "MFA_INTERNAL_API_KEY": "k" * 31, "MFA_PORT": str(free_port()),
           "MFA_DATABASE_URL": pg_url, "MFA_REDIS_URL": redis_url}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.totp", env=env, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE)
    try:
        _, err = await asyncio.wait_for(proc.communicate(), STARTUP_S)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError("the service started with a 31-character key") from None
    assert proc.returncode != 0
    assert b"MFA_INTERNAL_API_KEY must be at least 32 characters in split mode" in err
    assert b"k" * 31 not in err  # the refused key itself is not printed


async def test_embedded_mode_still_accepts_any_internal_api_key(
        aiohttp_server: Any, keys: dict[str, str], tmp_path: Path) -> None:
    settings = make_settings({**keys, "MFA_INTERNAL_API_KEY": "short"},
                             MFA_VAR_DIR=str(tmp_path))
    srv = await aiohttp_server(create_embedded_app(settings))
    async with aiohttp.ClientSession() as http, http.get(str(srv.make_url("/readyz"))) as r:
        assert r.status == 200


async def _refused(env: dict[str, str], *module: str) -> list[dict[str, Any]]:
    """Start a part that must refuse: exit code 78 (a configuration error), and its log lines."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", *module, env={**os.environ, **env},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), STARTUP_S)
    assert proc.returncode == 78, (proc.returncode, err.decode()[-2000:])
    # Every line is a JSON log record (no traceback a log pipeline would split into lines).
    return [json.loads(line) for line in err.decode().splitlines()]


async def test_a_part_whose_settings_cannot_work_says_why_in_one_log_line(
        keys: dict[str, str]) -> None:
    base = {**keys, "MFA_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none",
            "MFA_REDIS_URL": "redis://127.0.0.1:1/0", "MFA_PORT": str(free_port())}
    # The prod overlay as shipped: Twilio chosen, its account not filled in yet.
    lines = await _refused({**base, "MFA_SMS_PROVIDER": "twilio"}, "services.sms")
    assert [(r["level"], r["message"]) for r in lines] == [
        ("ERROR", "refusing to start: MFA_SMS_PROVIDER=twilio needs MFA_TWILIO_ACCOUNT_SID, "
                  "MFA_TWILIO_AUTH_TOKEN and MFA_TWILIO_FROM")]
    # Found while starting (the stores' URLs), not only while reading the settings.
    lines = await _refused({**keys, "MFA_DATABASE_URL": "", "MFA_REDIS_URL": "",
                            "MFA_PORT": str(free_port())}, "services.totp")
    assert lines[-1]["message"] == ("refusing to start: MFA_REDIS_URL and MFA_DATABASE_URL "
                                    "are required in split mode")
    lines = await _refused({"MFA_TOTP_URL": "ftp://totp", "MFA_PORT": str(free_port())},
                           "gateway")
    assert lines[-1]["message"] == ("refusing to start: upstream URL 'ftp://totp' must start "
                                    "with http:// or https://")
    assert all(keys["MFA_HMAC_KEY"] not in str(r) for r in lines)
