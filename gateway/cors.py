"""CORS for configured origins, with credentials (Frontegg's hosted login uses include)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from shared.http.web import SETTINGS, TRACE_HEADER

_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"


@web.middleware
async def cors(request: web.Request,
               handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
               ) -> web.StreamResponse:
    """Answer preflights and add CORS headers for allowed origins only."""
    origin = request.headers.get("Origin")
    allowed = bool(origin) and origin in request.app[SETTINGS].cors_origins
    if request.method == "OPTIONS" and request.headers.get("Access-Control-Request-Method"):
        resp: web.StreamResponse = web.Response(status=204 if allowed else 403)
        if allowed:
            resp.headers["Access-Control-Allow-Methods"] = _METHODS
            resp.headers["Access-Control-Allow-Headers"] = request.headers.get(
                "Access-Control-Request-Headers", "content-type, authorization")
            resp.headers["Access-Control-Max-Age"] = "600"
    else:
        resp = await handler(request)
    if allowed and origin:
        resp.headers["Access-Control-Allow-Origin"] = origin
        resp.headers["Access-Control-Allow-Credentials"] = "true"
        resp.headers["Access-Control-Expose-Headers"] = TRACE_HEADER
    resp.headers.add("Vary", "Origin")
    return resp
