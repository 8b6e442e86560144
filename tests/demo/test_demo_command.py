"""`make demo` runs `python -m demo`: one process, one line printed (the URL), and behind that
URL the login box's page, the host's password step on the embedded service, and the MFA calls
answered by it. (The box driven in a browser: test_login_box.py.)"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

import aiohttp

from bench.procs import free_port
from demo.host import BOX_DIR, DEMO_PASSWORD
from tests.conftest import unavailable

STARTUP_S = 30.0  # generous: the machine is shared; a timeout fails the test loudly
IDENTITY = "/frontegg/identity/resources"


async def test_make_demo_prints_one_url_that_serves_the_box_on_the_embedded_service(
        tmp_path: Path) -> None:
    if not (BOX_DIR / "index.html").exists():
        unavailable("the login box bundle (make demo/box/dist/index.html)")
    port = free_port()
    env = {**os.environ, "MFA_DEMO_PORT": str(port), "MFA_VAR_DIR": str(tmp_path / "var")}
    for name in [k for k in env if k.startswith("MFA_") and k not in
                 ("MFA_DEMO_PORT", "MFA_VAR_DIR")]:
        del env[name]  # the demo's own defaults, as on a developer's machine
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "demo", env=env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), STARTUP_S)).decode()
        url = re.fullmatch(r"Open (http://localhost:(\d+)/) \(any email, password (\S+)\)\n",
                           line)
        assert url and url.group(2) == str(port) and url.group(3) == DEMO_PASSWORD, line
        base = url.group(1).rstrip("/")
        async with aiohttp.ClientSession() as http:
            async with http.get(url.group(1)) as r:  # to the login page
                assert r.status == 200 and '<script type="module" src="/box/entry.js">' in (
                    await r.text())
                assert r.url.path == "/account/login"
            async with http.get(base + "/box/entry.js") as r:
                assert r.status == 200 and "javascript" in r.content_type
            async with http.post(base + IDENTITY + "/auth/v1/user",
                                 json={"email": "ada@example.test",
                                       "password": DEMO_PASSWORD}) as r:
                started = await r.json()
                assert r.status == 200 and started["qrCode"] and started["recoveryCode"]
            async with http.get(base + IDENTITY + "/configurations/v1/mfa-policy/"
                                "allow-remember-device",
                                params={"mfaToken": started["mfaToken"]}) as r:
                assert r.status == 200 and (await r.json())["isAllowedToRemember"] is True
        assert (tmp_path / "var" / "dev-keys.json").exists()  # its state, apart from make run's
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), STARTUP_S)
    # Nothing else printed: no key, no log line.
    assert proc.stdout is not None and proc.stderr is not None
    assert await proc.stdout.read() == b""
    assert await proc.stderr.read() == b"", "stderr"
