"""Private scale-out stores for the tests that stop one: scripts/scale-services on free ports
in the test's own folder (the shared ones in /tmp/mfa-scale are never touched)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
from pathlib import Path

import aiohttp

from tests.conftest import Ids, Stack, unavailable
from tests.support.totp_flows import AUTH, code

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "scale-services"
# The ports each part takes, from the base (scripts/scale_services.py).
OFFSETS = {"cluster": (1, 2, 3, 11, 12, 13, 21, 22, 23),
           "sentinel": (101, 102, 111, 112, 113)}


def free_base(part: str) -> int:
    """A base port whose ports for `part` are free right now (below the ephemeral range)."""
    for base in range(21000, 32000, 500):
        try:
            for off in OFFSETS[part]:
                with socket.socket() as s:
                    s.bind(("127.0.0.1", base + off))
            return base
        except OSError:
            continue
    raise AssertionError("no free ports")


class Private:
    """One part of scripts/scale-services in `folder`, on a free base port."""

    def __init__(self, folder: Path, part: str) -> None:
        self.dir, self.part, self.base = folder, part, free_base(part)
        self._args = ["--dir", str(folder), "--base-port", str(self.base)]

    def up(self, *extra: str) -> dict[str, str]:
        """Start (or restart what stopped); the URLs (unavailable when it cannot start)."""
        try:
            subprocess.run([SCRIPT, "up", self.part, *self._args, *extra], check=True,
                           capture_output=True, timeout=120)
        except (subprocess.CalledProcessError, OSError) as e:
            unavailable(f"a private {self.part} ({e.__class__.__name__})")
        return dict(json.loads((self.dir / "urls.json").read_text()))

    def kill(self, offset: int) -> None:
        """SIGKILL the server at base+offset (a crash)."""
        pidfile = self.dir / self.part / str(self.base + offset) / "pid"
        os.kill(int(pidfile.read_text()), signal.SIGKILL)

    def password(self) -> str:
        """The ACL user's password."""
        return (self.dir / "password").read_text().strip()

    def down(self) -> None:
        """Stop every process it started."""
        subprocess.run([SCRIPT, "down", *self._args], check=False, timeout=60)


async def one_login(st: Stack) -> tuple[str, str, Ids] | None:
    """A new user's forced enrollment at login: (mfaToken, seed, ids), or None on a 5xx or
    a session lost in the failover (the loop tries again)."""
    ids = Ids()
    body = {"userId": ids.user, "tenantId": ids.tenant, "email": ids.email}
    h = {"Authorization": f"Bearer {st.settings.internal_api_key}"}
    try:
        async with st.http.post(st.session_url + "/internal/v1/mfa/sessions", json=body,
                                headers=h) as r:
            if r.status != 200:
                assert r.status == 503, await r.text()  # the store-down envelope
                return None
            start = await r.json()
        async with st.http.post(f"{st.url}/frontegg/identity{AUTH}/verify",
                                json={"mfaToken": start["mfaToken"],
                                      "value": code(st, start["secret"])}) as r:
            if r.status != 200:  # 401: a session the failover lost (put is not WAITed)
                assert r.status in (401, 503), await r.text()
                return None
    except aiohttp.ClientError:
        return None
    return start["mfaToken"], start["secret"], ids
