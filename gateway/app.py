"""The gateway application: prefix routing to the services, body limit, timeouts, CORS,
readiness of its upstreams, drain on SIGTERM."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp import web

from gateway.cors import cors
from gateway.health import check_upstreams, metrics_listener, public_metrics_hidden
from gateway.openapi import build_spec, docs_page
from gateway.proxy import forward
from gateway.routes import match, strip_prefix
from gateway.upstreams import replicas_of, send
from shared.http import drain, tracing
from shared.http.errors import NotFound, PayloadTooLarge
from shared.http.web import READY_CHECKS, SETTINGS, base_app
from shared.settings import Settings

UPSTREAMS = web.AppKey("upstreams", dict)
OPENAPI = web.AppKey("openapi", dict)
CLIENT = web.AppKey("client", aiohttp.ClientSession)
REPLICAS = web.AppKey("replicas", dict)  # an upstream setting -> its Replicas


async def proxy(request: web.Request) -> web.Response:
    """Route by path prefix and forward; unknown paths are a 404 envelope."""
    settings = request.app[SETTINGS]
    path = strip_prefix(request.path, settings.mount_prefix)
    service = match(path, internal=settings.expose_internal_api)
    upstream = request.app[UPSTREAMS].get(service or "")
    if service is None or upstream is None:
        raise NotFound("Unknown route", code="ER-MFA-ROUTE")
    if tracing.enabled():
        tracing.name_request(f"{request.method} {service}", **{"mfa.upstream": service})
    if (request.content_length or 0) > settings.max_body_bytes:
        raise PayloadTooLarge()
    raw_path = strip_prefix(request.rel_url.raw_path, settings.mount_prefix)
    client = request.app[CLIENT]
    # One deadline for the request, however many replicas it tries (gateway/upstreams.py).
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.upstream_timeout
    return await send(replicas_of(request.app[REPLICAS], upstream),
                      lambda base: forward(client, request, base, raw_path,
                                           max(0.1, deadline - loop.time()),
                                           settings.upstream_connect_timeout))


def _openapi(request: web.Request) -> dict[str, Any]:
    cache = request.app[OPENAPI]
    if "doc" not in cache:
        settings = request.app[SETTINGS]
        cache["doc"] = build_spec(settings.mount_prefix, internal=settings.expose_internal_api)
    return cache["doc"]


async def openapi_json(request: web.Request) -> web.Response:
    """GET /openapi.json: OpenAPI 3.1 of every public route."""
    return web.json_response(_openapi(request))


async def docs(request: web.Request) -> web.Response:
    """GET /docs: the same, readable."""
    return web.Response(text=docs_page(_openapi(request)), content_type="text/html")


async def _client_ctx(app: web.Application) -> AsyncIterator[None]:
    connector = aiohttp.TCPConnector(limit=512, limit_per_host=256, keepalive_timeout=30)
    app[CLIENT] = aiohttp.ClientSession(connector=connector, auto_decompress=False)
    yield
    await app[CLIENT].close()


async def _upstreams_ready(app: web.Application) -> None:
    await check_upstreams(app[CLIENT], app[UPSTREAMS], app[SETTINGS].ready_timeout)


def create_app(settings: Settings, upstreams: dict[str, str] | None = None) -> web.Application:
    """The gateway in front of services at the given (or configured) URLs."""
    app = base_app("gateway", settings)
    app.middlewares.insert(0, cors)
    app.middlewares.append(public_metrics_hidden)
    drain.install(app)
    app[OPENAPI] = {}
    app[UPSTREAMS] = dict(upstreams if upstreams is not None else settings.upstreams)
    app[REPLICAS] = {}
    for setting in app[UPSTREAMS].values():  # a bad URL is a start-up error
        replicas_of(app[REPLICAS], setting)
    # Ready only when every upstream is (docs/frontegg-contract.md section 9 promises /readyz
    # reflects them): a gateway whose factor is down would answer that factor's routes with 502s.
    app[READY_CHECKS].extend([drain.not_draining, _upstreams_ready])
    app.cleanup_ctx.append(_client_ctx)
    app.cleanup_ctx.append(metrics_listener)
    app.router.add_get("/openapi.json", openapi_json)
    app.router.add_get("/docs", docs)
    app.router.add_route("*", "/{tail:.*}", proxy)
    return app
