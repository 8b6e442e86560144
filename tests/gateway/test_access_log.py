"""One access-log line per request, by whoever answered it: a service for what it served (the
gateway that forwarded it writes none), the gateway for what it answered itself."""

from __future__ import annotations

import logging

import pytest

from shared.http.web import TRACE_HEADER
from tests.conftest import PREFIX, Stack


def _lines(caplog: pytest.LogCaptureFixture, rid: str) -> list[dict[str, object]]:
    return [r.fields for r in caplog.records  # type: ignore[attr-defined]
            if r.getMessage() == "request" and r.fields.get("requestId") == rid]


async def test_each_request_is_logged_once_by_the_part_that_answered(
        stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    async with stack.http.post(stack.url + PREFIX + "/resources/auth/v1/user/mfa/verify",
                               json={"mfaToken": "x" * 43, "value": "123456"}) as r:
        assert r.status == 401
        served = r.headers[TRACE_HEADER]
    async with stack.http.post(stack.url + PREFIX + "/resources/no/such/route", json={}) as r:
        assert r.status == 404
        refused = r.headers[TRACE_HEADER]
    assert [(x["service"], x["status"], x["route"]) for x in _lines(caplog, served)] == [
        ("totp", 401, "/resources/auth/v1/user/mfa/verify")]
    assert [(x["service"], x["status"]) for x in _lines(caplog, refused)] == [("gateway", 404)]
