"""Requests whose cookies matter (the remember-device cookie is HttpOnly and Secure, so the
test client's jar would not send it back over http: read it from the answer instead)."""

from __future__ import annotations

from typing import Any

from tests.conftest import PREFIX, Stack


async def post_for_cookies(stack: Stack, path: str, body: dict[str, Any]
                           ) -> tuple[dict[str, Any], dict[str, str]]:
    """POST through the gateway expecting 200; (JSON body, the cookies it set)."""
    async with stack.http.post(stack.url + PREFIX + path, json=body) as r:
        assert r.status == 200, await r.text()
        return await r.json(), {k: m.value for k, m in r.cookies.items()}


async def remember_token(stack: Stack, path: str, body: dict[str, Any]) -> str:
    """The remember-device token a login answer set as its cookie (never in the body)."""
    answer, cookies = await post_for_cookies(stack, path, body)
    assert "rememberDeviceToken" not in answer, "the token belongs in the HttpOnly cookie only"
    return cookies[stack.settings.remember_cookie]
