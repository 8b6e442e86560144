"""The operators service runs the dispatcher when MFA_WEBHOOK_URLS is set: an enrollment made
over HTTP reaches a receiver, signed, in both modes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from shared.events.signing import verify
from tests.conftest import Ids, Stack
from tests.support.http import receiver
from tests.support.records import others_events_done
from tests.support.totp_flows import enrolled_user

SECRET = "service-webhook-secret-0123"


class Inbox:
    """An in-process receiver that keeps every verified event."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if not verify(SECRET, raw, request.headers):
            return web.json_response({}, status=401)
        self.events.append(json.loads(raw))
        self.arrived.set()
        return web.json_response({})


@pytest.fixture
async def inbox() -> AsyncIterator[tuple[Inbox, str]]:
    """The receiver on a free port."""
    box = Inbox()
    async with receiver(box.handle) as url:
        yield box, url


@pytest.fixture
async def extra_env(inbox: tuple[Inbox, str], request: pytest.FixtureRequest
                    ) -> dict[str, str]:
    """Webhooks on; in split mode the shared database's older events count as delivered
    (they belong to other tests)."""
    await others_events_done(request, "delivered_at = 0 WHERE delivered_at IS NULL")
    return {"MFA_WEBHOOK_URLS": inbox[1],
            "MFA_WEBHOOK_SECRET": SECRET}


async def test_an_enrollment_over_http_is_delivered_signed(stack: Stack, ids: Ids,
                                                           inbox: tuple[Inbox, str]) -> None:
    box, _ = inbox
    await enrolled_user(stack, ids)
    while not any(e["userId"] == ids.user for e in box.events):
        box.arrived.clear()
        await asyncio.wait_for(box.arrived.wait(), 30)
    [event] = [e for e in box.events if e["userId"] == ids.user]
    assert (event["type"], event["tenantId"], event["factor"]) == (
        "mfa.factor.enrolled", ids.tenant, "totp")
    [row] = await stack.stores.outbox.for_user(ids.tenant, ids.user)
    assert event["id"] == row.id


def test_settings_refuse_webhooks_without_a_secret() -> None:
    from shared.settings import Settings

    with pytest.raises(ValueError, match="MFA_WEBHOOK_SECRET"):
        Settings.from_env({"MFA_WEBHOOK_URLS": "http://127.0.0.1:1/hook"})
