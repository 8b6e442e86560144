"""`make demo` = `python -m demo`: the embedded MFA service and the demo host in one process.

The MFA service listens on a loopback port of its own (the host is its only client); the host,
serving Frontegg's login box, on http://localhost:MFA_DEMO_PORT (8090). Its state lives under
var/demo/, apart from `make run`'s. Prints the one URL to open.
"""

from __future__ import annotations

import asyncio
import os
import sys

from aiohttp import web

from demo.host import DEMO_PASSWORD, HostConfig, create_host_app
from gateway.embedded import create_embedded_app
from shared.devkeys import ensure_dev_keys
from shared.http.logs import configure_logging
from shared.settings import Settings


async def serve(settings: Settings, port: int) -> None:
    """Both apps on loopback until interrupted."""
    service = web.AppRunner(create_embedded_app(settings), access_log=None)
    await service.setup()
    await web.TCPSite(service, "127.0.0.1", 0).start()
    mfa_url = f"http://127.0.0.1:{service.addresses[0][1]}"
    host = web.AppRunner(create_host_app(HostConfig(
        mfa_url=mfa_url, session_url=mfa_url, internal_api_key=settings.internal_api_key,
        issuer=settings.jwt_issuer, remember_cookie=settings.remember_cookie)), access_log=None)
    await host.setup()
    # localhost, not 127.0.0.1: a secure context, where Chromium keeps the Secure cookies.
    await web.TCPSite(host, "localhost", port).start()
    print(f"Open http://localhost:{port}/ (any email, password {DEMO_PASSWORD})", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await host.cleanup()
        await service.cleanup()


def main() -> None:
    """Read the settings as `make run` does, with var/demo/ for the state and the keys."""
    env = dict(os.environ)
    env.setdefault("MFA_VAR_DIR", os.path.join("var", "demo"))
    env.setdefault("MFA_EXPOSE_INTERNAL_API", "true")
    env.setdefault("MFA_LOG_LEVEL", "ERROR")  # the URL alone (email codes: not in this box)
    env.setdefault("MFA_ALLOW_REMEMBER_DEVICE", "true")  # the box shows "remember this device"
    # The internal API key is the demo host's alone: not printed.
    settings = Settings.from_env(ensure_dev_keys(env["MFA_VAR_DIR"], env, announce=False))
    configure_logging(settings.log_level)
    try:
        asyncio.run(serve(settings, int(env.get("MFA_DEMO_PORT", "8090"))))
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)


if __name__ == "__main__":
    main()
