"""Postgres down: the admin API answers the 503 envelope, the webhook dispatcher pauses, and
both recover by themselves when it is back; an event written during the outage is delivered."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from services.operators.app import create_app
from shared.clock import SystemClock
from shared.events.audit import AuditLog
from shared.stores.database import connect
from tests.conftest import make_settings
from tests.support.http import receiver
from tests.support.responses import assert_envelope
from tests.support.tcp_proxy import TcpProxy, via

SECRET = "fault-webhook-secret-012345"


async def test_postgres_outage_pauses_admin_api_and_webhooks_then_both_recover(
        aiohttp_server: Any, keys: dict[str, str], pg_url: str, redis_url: str) -> None:
    direct = await connect(pg_url)
    await direct.execute("UPDATE outbox_events SET delivered_at = 0 WHERE delivered_at IS NULL")
    got: list[str] = []
    arrived = asyncio.Event()

    async def hook(request: web.Request) -> web.Response:
        got.append((await request.json())["tenantId"])
        arrived.set()
        return web.json_response({})

    target = urlsplit(pg_url)
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 0)
    await proxy.start()
    tenant = f"t-fault-{uuid.uuid4().hex[:8]}"
    try:
        async with receiver(hook) as url, aiohttp.ClientSession() as http:
            settings = make_settings(keys, MFA_REDIS_URL=redis_url,
                                     MFA_DATABASE_URL=via(pg_url, proxy.port),
                                     MFA_WEBHOOK_URLS=url, MFA_WEBHOOK_SECRET=SECRET)
            srv = await aiohttp_server(create_app(settings))
            audit_url = str(srv.make_url("/internal/v1/admin/audit?limit=1"))
            headers = {"Authorization": f"Bearer {settings.internal_api_key}"}
            await proxy.stop()
            async with http.get(audit_url, headers=headers) as r:
                assert r.status == 503
                assert_envelope(await r.json())
            await AuditLog(direct, SystemClock()).record(
                tenant_id=tenant, user_id="u-1", factor="totp", action="enroll",
                outcome="success")
            await proxy.start()
            while tenant not in got:
                arrived.clear()
                await asyncio.wait_for(arrived.wait(), 30)
            async with http.get(audit_url, headers=headers) as r:
                assert r.status == 200
    finally:
        await proxy.stop()
        await direct.close()
