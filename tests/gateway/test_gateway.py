"""The gateway: error envelope, prefix routing, limits, upstream failures, CORS, health."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from gateway.app import create_app
from gateway.routes import ROUTES, match, strip_prefix
from tests.conftest import PREFIX, Ids, Stack, make_settings
from tests.support.responses import assert_envelope


async def test_malformed_json_is_a_400_envelope(stack: Stack) -> None:
    body = await stack.post("/resources/auth/v1/user/mfa/recover", data="{nope",
                            expected_status=400)
    assert_envelope(body)
    assert body["errors"] == ["Malformed JSON body"]


async def test_non_object_json_is_a_400_envelope(stack: Stack) -> None:
    body = await stack.post("/resources/auth/v1/user/mfa/recover", json=[1, 2],
                            expected_status=400)
    assert_envelope(body)


async def test_wrong_types_name_the_field(stack: Stack) -> None:
    body = await stack.post("/resources/auth/v1/user/mfa/recover",
                            json={"email": 5, "recoveryCode": "x"}, expected_status=400)
    assert_envelope(body)
    assert body["errors"][0].startswith("email:")


async def test_empty_body_means_empty_object(stack: Stack, ids: Ids) -> None:
    body = await stack.post("/resources/auth/v1/user/mfa/recover", data=b"",
                            expected_status=400)
    assert body["errors"][0].startswith(("email:", "recoveryCode:"))
    # And on a route whose fields are all optional, an empty body just works.
    token = stack.user_token(ids)
    body = await stack.post("/resources/auth/v1/user/step-up/generate", data=b"", token=token,
                            expected_status=400)
    assert body["errors"] == ["MFA is not enrolled"]


async def test_unknown_route_is_a_404_envelope(stack: Stack) -> None:
    for path in ("/resources/nope", "/resources/auth/v1/user/mfa/unknown-factor"):
        assert_envelope(await stack.get(path, expected_status=404))
    assert_envelope(await stack.get("/x", prefix="", expected_status=404))


async def test_oversize_body_is_a_413_envelope(stack: Stack) -> None:
    big = {"email": "a@b.test", "recoveryCode": "x" * (stack.settings.max_body_bytes + 10)}
    body = await stack.post("/resources/auth/v1/user/mfa/recover", json=big,
                            expected_status=413)
    assert_envelope(body)


MALFORMED = {
    "Content-Length not a number": "Content-Length: abc\r\n",
    "negative Content-Length": "Content-Length: -1\r\n",
    "two framings (smuggling)": "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n",
    "a space in a header name": "Bad Header: x\r\n",
}


async def _raw(url: str, head: str) -> tuple[int, dict[str, str], bytes]:
    """One hand-written request (no client library would send it); status, headers, body
    (read to the end: the server closes the connection, its framing no longer trusted)."""
    from yarl import URL

    u = URL(url)
    reader, writer = await asyncio.open_connection(u.host, u.port)
    try:
        writer.write(head.encode() + b"\r\n")
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), 10)  # the server closes the connection
    finally:
        writer.close()
    top, _, body = raw.partition(b"\r\n\r\n")
    lines = top.decode().split("\r\n")
    headers = dict(ln.split(": ", 1) for ln in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


@pytest.mark.parametrize("case", list(MALFORMED))
async def test_a_request_aiohttp_cannot_parse_is_a_400_envelope(
        stack: Stack, case: str, caplog: pytest.LogCaptureFixture) -> None:
    # Refused by aiohttp's parser before any middleware runs: the envelope still, on the
    # gateway and (split) on a service, and the offending header's value is not logged.
    secret = "Bearer eyJhbGciOi-not-to-be-logged"
    urls = [stack.url] + ([stack.session_url] if stack.mode == "split" else [])
    for url in urls:
        status, headers, body = await _raw(
            url, f"POST {PREFIX}/resources/auth/v1/user/mfa/verify HTTP/1.1\r\nHost: x\r\n"
                 f"Authorization: {secret}\r\n{MALFORMED[case]}")
        assert status == 400, body
        assert headers["content-type"].startswith("application/json")
        parsed = orjson.loads(body)
        assert_envelope(parsed)
        assert parsed == {"errors": ["Bad request"], "errorCode": "ER-MFA-400"}
        assert secret not in caplog.text
    async with stack.http.get(stack.url + "/healthz") as r:  # still serving
        assert r.status == 200


async def test_paths_are_served_with_and_without_mount_prefix(stack: Stack) -> None:
    a = await stack.get("/.well-known/jwks.json")
    b = await stack.get("/.well-known/jwks.json", prefix="")
    assert a == b and a["keys"][0]["kid"] == stack.settings.jwt_key_id


async def test_responses_carry_a_trace_id(stack: Stack) -> None:
    async with stack.http.get(stack.url + "/frontegg/identity/.well-known/jwks.json") as r:
        assert len(r.headers["frontegg-trace-id"]) >= 16


def test_route_table_matches_on_segment_boundaries() -> None:
    assert match("/resources/users/v1/mfa/enroll/verify") == "totp"
    assert match("/resources/configurations/v1/mfa-policy/allow-remember-device") == "session"
    assert match("/resources/users/v1/mfa/enrollment") is None
    assert match("/internal/v1/mfa/sessions") is None
    assert match("/internal/v1/mfa/sessions", internal=True) == "session"
    assert strip_prefix("/frontegg/identity/resources/x", "/frontegg/identity") == "/resources/x"
    assert strip_prefix("/frontegg/identityx", "/frontegg/identity") == "/frontegg/identityx"
    assert {service for _, service in ROUTES} == {"session", "totp", "sms", "email", "webauthn",
                                                  "operators"}


@pytest.fixture
async def upstream(aiohttp_server: Any) -> Any:
    """A real local service that echoes what it received, or sleeps."""
    async def echo(request: web.Request) -> web.Response:
        return web.json_response({"path": request.path, "query": request.rel_url.raw_query_string,
                                  "body": (await request.read()).decode(),
                                  "trace": request.headers.get("frontegg-trace-id"),
                                  "xff": request.headers.get("X-Forwarded-For")},
                                 headers={"Set-Cookie": "a=1"})

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.json_response({})

    app = web.Application()
    async def ready(request: web.Request) -> web.Response:
        return web.json_response({})

    app.router.add_get("/readyz", ready)
    app.router.add_route("*", "/resources/users/v1/mfa/sms/slow", slow)
    app.router.add_route("*", "/{tail:.*}", echo)
    return await aiohttp_server(app)


async def _gateway(aiohttp_server: Any, keys: dict[str, str], upstreams: dict[str, str],
                   **env: str) -> str:
    app = create_app(make_settings(keys, **env), upstreams=upstreams)
    return str((await aiohttp_server(app)).make_url("")).rstrip("/")


async def test_gateway_forwards_path_query_body_and_trace(aiohttp_server: Any, upstream: Any,
                                                          keys: dict[str, str]) -> None:
    url = await _gateway(aiohttp_server, keys, {"sms": str(upstream.make_url(""))},
                         MFA_MOUNT_PREFIX="/mfa/identity")
    async with aiohttp.ClientSession() as http:
        async with http.post(url + "/mfa/identity/resources/users/v1/mfa/sms/x%2Fy?a=1+2",
                             data=b'{"k":1}') as r:
            got = await r.json()
            assert r.status == 200
            assert r.headers["Set-Cookie"].startswith("a=1")
            assert got["trace"] == r.headers["frontegg-trace-id"]
        assert got["path"] == "/resources/users/v1/mfa/sms/x/y"  # aiohttp decodes %2F
        assert got["query"] == "a=1+2" and got["body"] == '{"k":1}'
        assert got["xff"] == "127.0.0.1"
        # The chain a proxy in front built is kept, and the gateway's peer appended to it.
        async with http.get(url + "/mfa/identity/resources/users/v1/mfa/sms/x", headers=[
                ("X-Forwarded-For", "203.0.113.9, 10.0.0.1"),
                ("X-Forwarded-For", "10.0.0.2")]) as r:
            assert (await r.json())["xff"] == "203.0.113.9, 10.0.0.1, 10.0.0.2, 127.0.0.1"


async def test_upstream_down_is_502_and_slow_is_504(aiohttp_server: Any, upstream: Any,
                                                    keys: dict[str, str],
                                                    unused_tcp_port: int) -> None:
    url = await _gateway(aiohttp_server, keys,
                         {"sms": str(upstream.make_url("")),
                          "totp": f"http://127.0.0.1:{unused_tcp_port}"},
                         MFA_UPSTREAM_TIMEOUT="0.3")
    async with aiohttp.ClientSession() as http:
        async with http.post(url + "/resources/users/v1/mfa/enroll") as r:
            assert r.status == 502
            assert_envelope(await r.json())
        async with http.post(url + "/resources/users/v1/mfa/sms/slow") as r:
            assert r.status == 504
            assert_envelope(await r.json())
        async with http.get(url + "/readyz") as r:
            assert r.status == 503  # readiness reflects the upstreams: totp is down
            body = await r.json()
            assert_envelope(body)
            assert body["errors"] == ["Not ready"]
        async with http.get(url + "/healthz") as r:
            assert r.status == 200


async def test_cors_allows_configured_origins_with_credentials(aiohttp_server: Any,
                                                               upstream: Any,
                                                               keys: dict[str, str]) -> None:
    url = await _gateway(aiohttp_server, keys, {"sms": str(upstream.make_url(""))},
                         MFA_CORS_ORIGINS="https://app.example")
    pre = {"Access-Control-Request-Method": "POST",
           "Access-Control-Request-Headers": "content-type"}
    async with aiohttp.ClientSession() as http:
        async with http.options(url + "/resources/users/v1/mfa/sms/enroll",
                                headers={"Origin": "https://app.example", **pre}) as r:
            assert r.status == 204
            assert r.headers["Access-Control-Allow-Origin"] == "https://app.example"
            assert r.headers["Access-Control-Allow-Credentials"] == "true"
        async with http.options(url + "/resources/users/v1/mfa/sms/enroll",
                                headers={"Origin": "https://evil.example", **pre}) as r:
            assert r.status == 403
            assert "Access-Control-Allow-Origin" not in r.headers
        async with http.post(url + "/resources/users/v1/mfa/sms/enroll",
                             headers={"Origin": "https://app.example"}) as r:
            assert r.headers["Access-Control-Allow-Origin"] == "https://app.example"


async def test_internal_api_is_not_routed_unless_configured(aiohttp_server: Any, upstream: Any,
                                                            keys: dict[str, str]) -> None:
    url = await _gateway(aiohttp_server, keys, {"session": str(upstream.make_url(""))},
                         MFA_EXPOSE_INTERNAL_API="false")
    async with aiohttp.ClientSession() as http, http.post(
            url + "/internal/v1/mfa/sessions") as r:
        assert r.status == 404
        assert_envelope(await r.json())


async def test_metrics_are_not_served_on_the_public_port(stack: Stack) -> None:
    # The Ingress routes every path to this port; metrics have their own listener, off by
    # default (MFA_METRICS_PORT).
    assert stack.settings.metrics_port == 0
    for prefix in ("", PREFIX):
        assert_envelope(await stack.get("/metrics", prefix=prefix, expected_status=404))
