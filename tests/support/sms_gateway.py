"""A real HTTP SMS gateway for tests (what the webhook provider posts to): checks the
webhook signature, records each message, fails on demand."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from shared.events.signing import verify


@dataclass
class Inbox:
    """A real HTTP SMS gateway: checks the webhook signature, records each message."""

    secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    url: str = ""
    messages: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    fail_status: int | None = None
    delay: float = 0.0

    async def handle(self, request: web.Request) -> web.Response:
        """Verify, record, answer (or fail as told)."""
        raw = await request.read()
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail_status:
            return web.json_response({"error": "down"}, status=self.fail_status)
        if not verify(self.secret, raw, request.headers):
            return web.json_response({"error": "bad signature"}, status=401)
        self.messages.append(json.loads(raw))
        self.headers.append(dict(request.headers))
        return web.json_response({"accepted": True}, status=202)

    def to(self, phone: str) -> list[dict[str, Any]]:
        """Messages sent to a number."""
        return [m for m in self.messages if m["to"] == phone]

    def code_for(self, phone: str) -> str:
        """The code in the last message to a number."""
        sent = self.to(phone)
        assert sent, f"no SMS was sent to {phone}"
        match = re.match(r"(\d{6}) ", sent[-1]["body"])
        assert match, sent[-1]["body"]
        return match.group(1)
