"""A fake Twilio as a real local aiohttp app: checks what real Twilio checks on
POST /2010-04-01/Accounts/{AccountSid}/Messages.json and answers in its shapes (201 Message
resource; errors as {code, message, more_info, status})."""

from __future__ import annotations

import asyncio
import base64
import secrets
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any

from aiohttp import web

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "twilio-auth-token-for-tests-000"
FROM = "+15005550006"
SERVICE_SID = "MG" + "fedcba9876543210" * 2


def _error(status: int, code: int, message: str) -> web.Response:
    return web.json_response({"code": code, "message": message, "status": status,
                              "more_info": f"https://www.twilio.com/docs/errors/{code}"},
                             status=status)


@dataclass
class FakeTwilio:
    """Records accepted messages; fails on demand (status or delay)."""

    base_url: str = ""
    messages: list[dict[str, str]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    fail_status: int | None = None
    delay: float = 0.0

    async def create_message(self, request: web.Request) -> web.Response:
        """Twilio's Create a Message."""
        form = dict(await request.post())
        self.requests.append({"path": request.path, "headers": dict(request.headers),
                              "form": form})
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail_status:
            return _error(self.fail_status, 20500, "Internal Server Error")
        expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        if (request.match_info["sid"] != ACCOUNT_SID
                or request.headers.get("Authorization") != expected):
            return _error(401, 20003, "Authenticate")
        if request.content_type != "application/x-www-form-urlencoded":
            return _error(400, 20001, "Unsupported content type")
        if not str(form.get("To", "")).startswith("+"):
            return _error(400, 21211, f"The 'To' number {form.get('To')} is not valid.")
        if ("From" in form) == ("MessagingServiceSid" in form) or not form.get("Body"):
            return _error(400, 21603, "A 'From' or 'MessagingServiceSid' and a Body are required")
        sid = "SM" + secrets.token_hex(16)
        self.messages.append({k: str(v) for k, v in form.items()})
        return web.json_response(self._resource(sid, form), status=201)

    @staticmethod
    def _resource(sid: str, form: dict[str, Any]) -> dict[str, Any]:
        now = formatdate(usegmt=True)
        return {"sid": sid, "account_sid": ACCOUNT_SID, "to": form["To"],
                "from": form.get("From"), "messaging_service_sid": form.get(
                    "MessagingServiceSid"), "body": form["Body"], "status": "queued",
                "num_segments": "1", "direction": "outbound-api", "api_version": "2010-04-01",
                "date_created": now, "date_updated": now, "date_sent": None, "price": None,
                "error_code": None, "error_message": None,
                "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json"}

    def app(self) -> web.Application:
        """The aiohttp app to serve."""
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self.create_message)
        return app
