"""Embedded mode: state survives a restart; development keys are made once, privately; it
starts only on a loopback address unless told otherwise."""

from __future__ import annotations

import asyncio
import os
import stat
import sys
from typing import Any

import aiohttp
import pyotp
import pytest

from gateway.__main__ import refuse_public_embedded
from gateway.embedded import create_embedded_app
from shared.clock import FrozenClock
from shared.devkeys import ensure_dev_keys
from shared.settings import Settings
from tests.conftest import Ids

PREFIX = "/frontegg/identity/resources"
ANY_ADDRESS = "0.0.0.0"  # noqa: S104 - what the image sets; the tests check it is refused


async def _start(aiohttp_server: Any, var_dir: str, clock: FrozenClock) -> Any:
    env = ensure_dev_keys(var_dir, {"MFA_VAR_DIR": var_dir, "MFA_EXPOSE_INTERNAL_API": "true"})
    return await aiohttp_server(create_embedded_app(Settings.from_env(env), clock))


async def _session(http: aiohttp.ClientSession, base: str, key: str, ids: Ids
                   ) -> dict[str, Any]:
    async with http.post(base + "/internal/v1/mfa/sessions",
                         json={"userId": ids.user, "tenantId": ids.tenant, "email": ids.email},
                         headers={"Authorization": f"Bearer {key}"}) as r:
        assert r.status == 200
        return dict(await r.json())


async def test_enrolled_state_survives_a_restart(aiohttp_server: Any, tmp_path: Any) -> None:
    var_dir, clock, ids = str(tmp_path / "var"), FrozenClock(), Ids()
    srv = await _start(aiohttp_server, var_dir, clock)
    base = str(srv.make_url("")).rstrip("/")
    key = ensure_dev_keys(var_dir, {})["MFA_INTERNAL_API_KEY"]
    async with aiohttp.ClientSession() as http:
        started = await _session(http, base, key, ids)
        assert started["mfaEnrolled"] is False
        code = pyotp.TOTP(started["secret"]).at(clock.now())
        async with http.post(base + PREFIX + "/auth/v1/user/mfa/verify",
                             json={"mfaToken": started["mfaToken"], "value": code}) as r:
            assert r.status == 200, await r.text()
        await srv.close()

        srv2 = await _start(aiohttp_server, var_dir, clock)
        again = await _session(http, str(srv2.make_url("")).rstrip("/"), key, ids)
        assert again["mfaEnrolled"] is True
        assert len(again["mfaDevices"]["authenticators"]) == 1
        assert "qrCode" not in again


def test_dev_keys_are_made_once_and_private(tmp_path: Any) -> None:
    first = ensure_dev_keys(str(tmp_path), {})
    mode = stat.S_IMODE(os.stat(tmp_path / "dev-keys.json").st_mode)
    assert mode == 0o600
    assert ensure_dev_keys(str(tmp_path), {}) == first
    assert ensure_dev_keys(str(tmp_path), {"MFA_HMAC_KEY": "given"})["MFA_HMAC_KEY"] == "given"
    for name in ("MFA_JWT_PRIVATE_KEY", "MFA_ENCRYPTION_KEYS", "MFA_HMAC_KEY",
                 "MFA_INTERNAL_API_KEY"):
        assert first[name]


async def test_var_dir_and_database_files_are_private(aiohttp_server: Any, tmp_path: Any
                                                      ) -> None:
    var_dir, clock = tmp_path / "var", FrozenClock()
    old = os.umask(0o022)  # the usual umask, which would leave new files world-readable
    try:
        srv = await _start(aiohttp_server, str(var_dir), clock)
        base = str(srv.make_url("")).rstrip("/")
        key = ensure_dev_keys(str(var_dir), {})["MFA_INTERNAL_API_KEY"]
        async with aiohttp.ClientSession() as http:
            await _session(http, base, key, Ids())  # a write: the WAL files exist now
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in var_dir.iterdir()}
        await srv.close()
    finally:
        os.umask(old)
    assert stat.S_IMODE(var_dir.stat().st_mode) == 0o700
    assert {"mfa.sqlite3", "mfa.sqlite3-wal", "mfa.sqlite3-shm", "dev-keys.json"} <= set(modes)
    assert modes == dict.fromkeys(modes, 0o600), modes


async def test_embedded_mode_refuses_a_non_loopback_host(tmp_path: Any) -> None:
    """The review's L11: the image sets MFA_HOST=0.0.0.0, one flag from a public development
    server (internal API routed, generated keys printed, codes in the log)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MFA_")}
    env.update({"MFA_HOST": ANY_ADDRESS, "MFA_PORT": "1", "MFA_VAR_DIR": str(tmp_path / "var")})
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "--embedded", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2 and "MFA_EMBEDDED_PUBLIC" in err.decode(), err
    assert not (tmp_path / "var").exists(), "no key was generated (nor printed)"


@pytest.mark.parametrize(("env", "refused"), [
    ({}, False), ({"MFA_HOST": "127.0.0.1"}, False), ({"MFA_HOST": "::1"}, False),
    ({"MFA_HOST": "localhost"}, False), ({"MFA_HOST": "127.0.0.2"}, False),
    ({"MFA_HOST": ANY_ADDRESS}, True), ({"MFA_HOST": "::"}, True),
    ({"MFA_HOST": "10.1.2.3"}, True),
    ({"MFA_HOST": ANY_ADDRESS, "MFA_EMBEDDED_PUBLIC": "true"}, False),
    ({"MFA_HOST": ANY_ADDRESS, "MFA_EMBEDDED_PUBLIC": "false"}, True),
])
def test_which_hosts_embedded_mode_accepts(env: dict[str, str], refused: bool) -> None:
    assert (refuse_public_embedded(env) is not None) == refused
