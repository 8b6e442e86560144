"""The demo host (demo/host.py) in front of the stack, for this test's own tenant."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from demo.host import BOX_DIR, HostConfig, create_host_app
from tests.conftest import Ids, Stack


async def start_host(stack: Stack, ids: Ids, aiohttp_server: Any,
                     box_dir: Path = BOX_DIR) -> str:
    """The host serving box_dir in front of the stack (the internal API: the session service,
    or the embedded gateway); its origin on localhost, a secure context, where Chromium keeps
    the Secure remember-device cookie."""
    config = HostConfig(mfa_url=stack.url, session_url=stack.session_url,
                        internal_api_key=stack.settings.internal_api_key,
                        issuer=stack.settings.jwt_issuer,
                        remember_cookie=stack.settings.remember_cookie, tenant_id=ids.tenant,
                        box_dir=box_dir)
    server = await aiohttp_server(create_host_app(config))
    return f"http://localhost:{server.port}"
