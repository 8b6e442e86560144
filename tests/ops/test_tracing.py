"""OpenTelemetry in split mode, as real processes: the gateway, session, totp and sms services
export to a real OTLP receiver process this test starts (tests/support/otlp_receiver.py), over
HTTP/protobuf and over gRPC. A TOTP login's verify is one trace whose tree is the one
docs/tracing.md shows (gateway server -> gateway client -> service server -> Redis and Postgres
spans), continuing the caller's traceparent; the SMS provider's webhook gets the trace's
traceparent; no attribute holds a code, token, secret or email; the services' log lines and
the audit row carry the trace id. Without OTEL_* nothing is exported."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pyotp
import pytest
from aiohttp import web

from bench.procs import ROOT, Processes, free_port
from shared.clock import SystemClock
from shared.settings import Settings
from shared.stores.bundle import Stores, open_stores
from tests.conftest import RUN_PREFIX, Ids
from tests.support.records import others_events_done
from tests.support.sms_gateway import Inbox
from tests.support.totp_flows import AUTH, USERS

VERIFY = "/frontegg/identity" + AUTH + "/verify"
SMS_ENROLL = "/frontegg/identity/resources/users/v1/mfa/sms/enroll"
CALLER_TRACE = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN = "b7ad6b7169203331"
REDIS_SCOPE = "opentelemetry.instrumentation.redis"
PG_SCOPE = "opentelemetry.instrumentation.asyncpg"
HTTP_CLIENT_SCOPE = "opentelemetry.instrumentation.aiohttp_client"


def _receiver(http_port: int, grpc_port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(  # noqa: S603 - our own module
        [sys.executable, "-m", "tests.support.otlp_receiver", "--http-port", str(http_port),
         "--grpc-port", str(grpc_port)], cwd=ROOT, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    line = proc.stdout.readline()  # "ready" once both listeners are up (or EOF: it failed)
    assert line.strip() == b"ready", line
    return proc


class Split:
    """The processes, the receiver's read-back URL and the stores (for tokens and rows)."""

    def __init__(self, procs: Processes, urls: dict[str, str], spans_url: str,
                 stores: Stores, inbox: Inbox, log_dir: Path,
                 webhooks: list[tuple[dict[str, str], dict[str, Any]]]) -> None:
        self.procs, self.urls, self.spans_url = procs, urls, spans_url
        self.stores, self.inbox, self.log_dir = stores, inbox, log_dir
        self.webhooks = webhooks  # (headers, body) of each security-event delivery

    async def spans(self, http: aiohttp.ClientSession) -> list[dict[str, Any]]:
        async with http.get(self.spans_url) as r:
            return list(await r.json())

    async def trace(self, http: aiohttp.ClientSession, trace_id: str, *,
                    until: Any) -> list[dict[str, Any]]:
        """The trace's spans once `until(spans)` holds (the exporters batch), or fail."""
        deadline = time.monotonic() + 30
        while True:
            spans = [s for s in await self.spans(http) if s["traceId"] == trace_id]
            if until(spans):
                return spans
            assert time.monotonic() < deadline, f"trace {trace_id} incomplete: {spans}"
            await asyncio.sleep(0.2)


@pytest.fixture(params=["http/protobuf", "grpc"])
async def split(request: pytest.FixtureRequest, keys: dict[str, str], pg_url: str,
                redis_url: str, tmp_path: Path, aiohttp_server: Any) -> AsyncIterator[Split]:
    """Gateway, session, totp and sms as processes, exporting over the protocol asked."""
    http_port, grpc_port = free_port(), free_port()
    receiver = await asyncio.to_thread(_receiver, http_port, grpc_port)
    await others_events_done(request, "delivered_at = 0")  # the dispatcher's backlog: ours
    inbox, hooks, delivered = Inbox(), web.Application(), []
    sms_app = web.Application()
    sms_app.router.add_post("/sms", inbox.handle)
    inbox.url = str((await aiohttp_server(sms_app)).make_url("/sms"))

    async def webhook(request: web.Request) -> web.Response:
        delivered.append((dict(request.headers), await request.json()))
        return web.json_response({})

    hooks.router.add_post("/events", webhook)
    hooks_url = str((await aiohttp_server(hooks)).make_url("/events"))
    endpoint = (f"http://127.0.0.1:{grpc_port}" if request.param == "grpc"
                else f"http://127.0.0.1:{http_port}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MFA_", "OTEL_"))}
    env.update({**keys, "MFA_DATABASE_URL": pg_url, "MFA_REDIS_URL": redis_url,
                "MFA_REDIS_PREFIX": RUN_PREFIX, "MFA_VAR_DIR": str(tmp_path),
                "MFA_HOST": "127.0.0.1", "MFA_LOG_LEVEL": "INFO", "PYTHONPATH": str(ROOT),
                "MFA_SMS_PROVIDER": "webhook", "MFA_SMS_WEBHOOK_URL": inbox.url,
                "MFA_SMS_WEBHOOK_SECRET": inbox.secret,
                "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
                "OTEL_EXPORTER_OTLP_PROTOCOL": request.param, "OTEL_BSP_SCHEDULE_DELAY": "100"})
    procs = Processes(env, log_dir=tmp_path)
    try:
        urls = {name: procs.start(name, f"services.{name}", free_port())
                for name in ("session", "totp", "sms")}
        urls["operators"] = procs.start("operators", "services.operators", free_port(),
                                        MFA_WEBHOOK_URLS=hooks_url,
                                        MFA_WEBHOOK_SECRET=secrets.token_urlsafe(24))
        urls["gateway"] = procs.start("gateway", "gateway", free_port(),
                                      MFA_SESSION_URL=urls["session"],
                                      MFA_TOTP_URL=urls["totp"], MFA_SMS_URL=urls["sms"])
        await procs.wait_ready(list(urls.values()))
        stores = await open_stores(Settings.from_env(env), SystemClock())
        try:
            yield Split(procs, urls, f"http://127.0.0.1:{http_port}/spans", stores, inbox,
                        tmp_path, delivered)
        finally:
            await stores.close()
    finally:
        procs.stop()
        receiver.terminate()
        receiver.wait(10)


def _children(spans: list[dict[str, Any]], parent: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in spans if s["parentSpanId"] == parent["spanId"]]


def _below(spans: list[dict[str, Any]], top: dict[str, Any]) -> list[dict[str, Any]]:
    out, todo = [], [top]
    while todo:
        kids = _children(spans, todo.pop())
        out += kids
        todo += kids
    return out


def _tree(spans: list[dict[str, Any]], top: dict[str, Any],
          depth: int = 0) -> list[tuple[int, str, str, str]]:
    """(depth, service, kind, name) of `top` and every span under it, children in the order
    they started."""
    out = [(depth, top["service"], top["kind"], top["name"])]
    for child in sorted(_children(spans, top), key=lambda s: s["start"]):
        out += _tree(spans, child, depth + 1)
    return out


def documented_tree() -> list[tuple[int, str, str, str]]:
    """The span tree docs/tracing.md shows under "The span tree of a login"."""
    text = (ROOT / "docs" / "tracing.md").read_text()
    block = text.split("## The span tree of a login", 1)[1].split("```", 2)[1]
    out = []
    for line in block.splitlines():
        shown = line.split("#", 1)[0].rstrip()
        if shown.strip():
            service, kind, name = shown.strip().split(None, 2)
            out.append(((len(shown) - len(shown.lstrip())) // 2, service, kind, name.strip()))
    return out


def _login_complete(spans: list[dict[str, Any]]) -> bool:
    """Every span the documented tree has is in (the exporters batch; the settle comes after
    the answer)."""
    roots = [s for s in spans if s["parentSpanId"] == CALLER_SPAN]
    return len(roots) == 1 and len(_tree(spans, roots[0])) >= len(documented_tree())


async def _enroll(split: Split, http: aiohttp.ClientSession, ids: Ids) -> str:
    token, _ = split.stores.tokens.issue(user_id=ids.user, tenant_id=ids.tenant,
                                         email=ids.email, amr=["mfa"])
    auth = {"Authorization": f"Bearer {token}"}
    base = split.urls["gateway"] + "/frontegg/identity"
    async with http.post(base + USERS + "/authenticator/enroll", headers=auth) as r:
        assert r.status == 200, await r.text()
        secret = (await r.json())["secret"]
    async with http.post(base + USERS + "/authenticator/enroll/verify", headers=auth,
                         json={"token": pyotp.TOTP(secret).now()}) as r:
        assert r.status == 200, await r.text()
    return str(secret)


async def test_a_split_mode_login_is_one_trace_with_every_part(split: Split, ids: Ids) -> None:
    async with aiohttp.ClientSession() as http:
        seed = await _enroll(split, http, ids)
        start = {"userId": ids.user, "tenantId": ids.tenant, "email": ids.email}
        internal = {"Authorization": f"Bearer {split.stores.settings.internal_api_key}"}
        async with http.post(split.urls["session"] + "/internal/v1/mfa/sessions", json=start,
                             headers=internal) as r:
            mfa_token = (await r.json())["mfaToken"]
        # The next step's code (inside the window): the enrollment spent this step's.
        value = pyotp.TOTP(seed).at(time.time(), counter_offset=1)
        caller = {"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"}
        async with http.post(split.urls["gateway"] + VERIFY, headers=caller,
                             json={"mfaToken": mfa_token, "value": value}) as r:
            assert r.status == 200, await r.text()
            body = await r.json()
        spans = await split.trace(http, CALLER_TRACE, until=_login_complete)
    # The tree docs/tracing.md shows, continuing the caller's trace.
    [root] = [s for s in spans if s["parentSpanId"] == CALLER_SPAN]
    received = _tree(spans, root)
    assert received == documented_tree(), "received, update docs/tracing.md if intended:\n" + \
        "\n".join(f"{'  ' * d}{service}  {kind}  {name}" for d, service, kind, name in received)
    [served] = [s for s in spans if s["service"] == "mfa-totp" and s["kind"] == "server"]
    assert served["attributes"] == {"http.request.method": "POST",
                                    "http.route": AUTH + "/verify",
                                    "http.response.status_code": 200}
    assert {s["scope"] for s in _below(spans, served)} == {REDIS_SCOPE, PG_SCOPE}
    # No code, token, secret or email in any attribute of any span received.
    forbidden = [value, mfa_token, body["accessToken"], ids.email, seed,
                 split.stores.settings.internal_api_key]
    everything = json.dumps([s["attributes"] for s in await _all(split)])
    assert not [f for f in forbidden if f in everything]
    # The audit row and the service's log line carry the trace id.
    row = await split.stores.db.fetchrow(
        "SELECT trace_id FROM audit_events WHERE tenant_id = $1 AND user_id = $2 AND "
        "action = 'verify'", ids.tenant, ids.user)
    assert row is not None and row["trace_id"] == CALLER_TRACE
    lines = [json.loads(line) for line in (split.log_dir / "totp.log").read_text().splitlines()
             if line.startswith("{")]
    assert any(line.get("traceId") == CALLER_TRACE and line["message"] == "request"
               for line in lines)


async def _all(split: Split) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as http:
        return await split.spans(http)


async def test_the_sms_webhook_gets_the_requests_traceparent(split: Split, ids: Ids) -> None:
    token, _ = split.stores.tokens.issue(user_id=ids.user, tenant_id=ids.tenant,
                                         email=ids.email, amr=["mfa"])
    await split.stores.policies.save(ids.tenant, {"strategies": ["AuthenticatorApp", "SMS"]},
                                     replace_all=False)
    phone = f"+1201555{secrets.randbelow(10000):04d}"
    async with aiohttp.ClientSession() as http:
        async with http.post(split.urls["gateway"] + SMS_ENROLL, json={"phoneNumber": phone},
                             headers={"Authorization": f"Bearer {token}"}) as r:
            assert r.status == 200, await r.text()
        [sent] = split.inbox.headers
        parent = sent["traceparent"].split("-")
        spans = await split.trace(http, parent[1], until=lambda s: any(
            x["name"] == "sms.send" for x in s))
    [send] = [s for s in spans if s["name"] == "sms.send"]
    assert send["attributes"] == {"mfa.sms.provider": "webhook", "mfa.sms.country_code": "1"}
    [post] = _children(spans, send)
    assert (post["spanId"], post["scope"]) == (parent[2], HTTP_CLIENT_SCOPE)
    assert phone[1:] not in json.dumps([s["attributes"] for s in spans])


async def test_security_event_webhooks_carry_a_traceparent(split: Split, ids: Ids) -> None:
    async with aiohttp.ClientSession() as http:
        await _enroll(split, http, ids)  # raises mfa.factor.enrolled
        deadline = time.monotonic() + 30
        while not (mine := [h for h, body in split.webhooks if body["userId"] == ids.user]):
            assert time.monotonic() < deadline, "the enrollment's event was not delivered"
            await asyncio.sleep(0.2)
        _, trace_id, span_id, _ = mine[0]["traceparent"].split("-")
        spans = await split.trace(http, trace_id, until=lambda s: any(
            x["name"] == "webhook.deliver" for x in s))
    [deliver] = [s for s in spans if s["name"] == "webhook.deliver"]
    assert (deliver["service"], deliver["kind"]) == ("mfa-operators", "producer")
    assert deliver["attributes"]["mfa.event.type"] == "mfa.factor.enrolled"
    [post] = [c for c in _children(spans, deliver) if c["scope"] == HTTP_CLIENT_SCOPE]
    assert post["spanId"] == span_id and post["kind"] == "client"
    assert PG_SCOPE in {c["scope"] for c in _children(spans, deliver)}  # marked delivered
