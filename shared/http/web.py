"""The aiohttp kit every service and the gateway share: app keys, middlewares, body parsing,
health endpoints and the runner."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import asdict, is_dataclass
from http import HTTPStatus
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMethod
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from marshmallow import EXCLUDE, Schema, ValidationError

from shared.clock import Clock, SystemClock
from shared.http import access, drain, tracing
from shared.http.caller import Caller, caller_var
from shared.http.client_ip import behind_gateway
from shared.http.errors import STORE_FAULTS, BadRequest, MfaError
from shared.http.jsonbody import dumps, parse_json
from shared.http.logs import (
    configure_logging,
    language_var,
    refusing_bad_settings,
    request_id_var,
    trace_id_var,
)
from shared.http.metrics import READY, STORE_ERRORS, metrics_handler, request_metrics
from shared.mfa.flow import LoginResult
from shared.settings import Settings
from shared.stores.bundle import Stores, open_stores

log = logging.getLogger("mfa.http")

SETTINGS = web.AppKey("settings", Settings)
STORES = web.AppKey("stores", Stores)
CLOCK = web.AppKey("clock", Clock)  # type: ignore[type-abstract]
SERVICE = web.AppKey("service", str)
READY_CHECKS = web.AppKey("ready_checks", list)
TRACE_HEADER = "frontegg-trace-id"


def json_response(data: Any, status: int = 200,
                  headers: Mapping[str, str] | None = None) -> web.Response:
    """A JSON answer (encoded by shared.http.jsonbody.dumps)."""
    return web.Response(body=dumps(data), status=status, headers=headers,
                        content_type="application/json", charset="utf-8")


def error_response(status: int, message: str, code: str,
                   headers: dict[str, str] | None = None, extra: dict[str, Any] | None = None
                   ) -> web.Response:
    """Frontegg's envelope {"errors": [...], "errorCode": "ER-..."}."""
    body: dict[str, Any] = {"errors": [message], "errorCode": code, **(extra or {})}
    return json_response(body, status=status, headers=headers)


_QUIET = {"/healthz", "/readyz", "/metrics"}  # probes and scrapes: counted, not logged
_HTTP_CODES = {404: ("Not found", "ER-MFA-404"), 405: ("Method not allowed", "ER-MFA-405"),
               413: ("Error request is too large", "ER-MFA-413"),
               400: ("Bad request", "ER-MFA-400")}
# Set by the gateway on a request whose answer came from a service: that service wrote the
# request's log line, so the gateway writes none (one line per request, by whoever answered).
ANSWERED_UPSTREAM = web.RequestKey("answered_upstream", bool)


@web.middleware
async def request_context(request: web.Request,
                          handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                          ) -> web.StreamResponse:
    """Request id (taken from the gateway or made here), trace id and caller (for the log
    lines and audit rows), errors as envelopes, access log."""
    headers = request.headers
    rid = headers.get(TRACE_HEADER) or headers.get("x-request-id") or ""
    if not rid or len(rid) > 100 or not rid.replace("-", "").isalnum():
        rid = uuid.uuid4().hex
    token = request_id_var.set(rid)
    language = language_var.set(headers.get("Accept-Language", "")[:200])
    tid = tracing.current_trace_id() or tracing.incoming_trace_id(headers.get("traceparent"))
    trace_id = trace_id_var.set(tid)
    caller = caller_var.set(Caller(headers.get("X-Forwarded-For"), request.remote,
                                   headers.get("User-Agent", "")))
    started = time.perf_counter()
    try:
        resp = await _guarded(request, handler)
    finally:
        request_id_var.reset(token)
        language_var.reset(language)
        trace_id_var.reset(trace_id)
        caller_var.reset(caller)
    resp.headers[TRACE_HEADER] = rid
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    elapsed = time.perf_counter() - started
    service = request.app[SERVICE]
    count, latency = request_metrics(service, request.method, route, resp.status)
    count.inc()
    latency.observe(elapsed)
    if (route not in _QUIET and not request.get(ANSWERED_UPSTREAM)
            and log.isEnabledFor(logging.INFO)):
        fields = {"requestId": rid, "service": service, "method": request.method,
                  "route": route, "status": resp.status, "ms": round(elapsed * 1000, 2)}
        if tid:
            fields["traceId"] = tid
        log.info("request", extra={"fields": fields})
    return resp


async def _guarded(request: web.Request,
                   handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                   ) -> web.StreamResponse:
    meta = getattr(request.match_info.handler, "__api__", None)
    try:
        if meta is not None and STORES in request.app:
            return await access.authorized(request, handler, meta, request.app[STORES],
                                           read_body)
        return await handler(request)
    except MfaError as e:
        return json_response(e.body(), status=e.status, headers=e.headers)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        msg, code = _HTTP_CODES.get(e.status, (e.reason, f"ER-MFA-{e.status}"))
        return error_response(e.status, msg, code)
    except STORE_FAULTS as e:
        STORE_ERRORS.labels(request.app[SERVICE]).inc()
        log.warning("store unavailable", extra={"fields": {"error": e.__class__.__name__}})
        return error_response(503, "Service temporarily unavailable", "ER-MFA-503")
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("unhandled error")
        return error_response(500, "Internal error", "ER-MFA-500")


def _unparsed_request_envelope(self: RequestHandler, request: BaseRequest, status: int = 500,
                               exc: BaseException | None = None, message: str | None = None
                               ) -> web.StreamResponse:
    """aiohttp's own answer where no middleware runs (a request it could not parse: a
    malformed request line, header or Content-Length, 400; a handler's timeout, 504; an error
    past every middleware, 500) in Frontegg's envelope instead of aiohttp's text page. Logged
    by the exception's class only: aiohttp's message may quote the offending header, and a
    header may carry a token."""
    if request.writer.output_size > 0:  # as aiohttp: the answer has begun, the connection goes
        raise ConnectionError("Response is sent already, cannot send another response")
    # Not HTTP at all (TLS to a plain port, a scanner) is routine on an open port: debug only.
    level = logging.DEBUG if isinstance(exc, BadHttpMethod) else logging.WARNING
    log.log(level, "unparsable request", exc_info=exc if status == 500 else None,
            extra={"fields": {"status": status,
                              "error": exc.__class__.__name__ if exc else None}})
    msg, code = _HTTP_CODES.get(status, ("Internal error" if status == 500 else
                                         HTTPStatus(status).phrase, f"ER-MFA-{status}"))
    resp = error_response(status, msg, code)
    resp.force_close()  # as aiohttp: the stream's framing cannot be trusted past this request
    return resp


# One place for every app (gateway and services, embedded or split): aiohttp builds its
# RequestHandler itself, so its error answer is replaced on the class, at import.
RequestHandler.handle_error = _unparsed_request_envelope  # type: ignore[method-assign]


async def read_json(request: web.Request, schema: Schema | None = None) -> dict[str, Any]:
    """The JSON object body; empty means {}; unknown fields ignored; 400 on anything else."""
    data = parse_json(await request.read())
    if not isinstance(data, dict):
        raise BadRequest("The body must be a JSON object", code="ER-MFA-MALFORMED-JSON")
    if schema is None:
        return data
    try:
        return schema.load(data, unknown=EXCLUDE)
    except ValidationError as e:
        raise BadRequest(_first_error(e.messages), code="ER-MFA-VALIDATION") from None


_SCHEMAS: dict[type[Schema], Schema] = {}
_BODY = web.RequestKey("mfa_body", dict)


async def read_body(request: web.Request) -> dict[str, Any]:
    """The JSON body parsed with the request schema the route's handler declares in
    @api(request=...): the one place a route's input shape is written. Parsed once (the
    middleware parses it before authorizing)."""
    if _BODY in request:
        return request[_BODY]  # type: ignore[no-any-return]
    meta = request.get(access.API) or getattr(request.match_info.handler, "__api__", None)
    cls = meta["request"] if meta else None
    if cls is None:
        raise TypeError(f"{request.match_info.handler!r} declares no request schema")
    if cls not in _SCHEMAS:
        _SCHEMAS[cls] = cls()
    request[_BODY] = await read_json(request, _SCHEMAS[cls])
    return request[_BODY]  # type: ignore[no-any-return]


def _first_error(messages: Any, path: str = "") -> str:
    if isinstance(messages, dict):
        for k, v in messages.items():
            return _first_error(v, f"{path}.{k}" if path else str(k))
    if isinstance(messages, list) and messages:
        first = messages[0]
        if isinstance(first, str):
            return f"{path}: {first}" if path else first
        return _first_error(first, path)
    return f"{path}: invalid" if path else "Invalid input"


def json_ok(data: Any = None, status: int = 200) -> web.Response:
    """A JSON success answer; never a bare null. A core's dataclass is dumped by its field
    names (the wire's), leaving out the fields it does not set (None)."""
    if is_dataclass(data) and not isinstance(data, type):
        data = {k: v for k, v in asdict(data).items() if v is not None}
    return json_response({} if data is None else data, status=status)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def api(*, request: type[Schema] | None = None, response: type[Schema] | None = None,
        query: dict[str, str] | None = None, auth: str = "none", attempt: str | None = None,
        lockout: str | None = None, media: str = "application/json",
        vendor: Handler | None = None, status: int = 200) -> Callable[[Handler], Handler]:
    """Declare a route: its marshmallow schemas (the gateway's OpenAPI document is built from
    them), who may call it and which factor's attempt it is (enforced by the middleware, see
    shared.http.access), the success body's media type and status, and its vendor form (a handler
    declared `auth="vendor"` that serves the same path to a vendor credential)."""
    if auth not in access.AUTH_KINDS:
        raise ValueError(f"unknown auth {auth!r}")

    def mark(handler: Handler) -> Handler:
        handler.__api__ = {"request": request, "response": response,  # type: ignore[attr-defined]
                           "query": query or {}, "auth": auth, "attempt": attempt,
                           "lockout": lockout, "media": media, "vendor": vendor,
                           "status": status}
        return handler

    return mark


def login_response(result: LoginResult, settings: Settings) -> web.Response:
    """Frontegg's login response; a remembered device also gets its HttpOnly cookie."""
    resp = json_ok(result.body)
    if result.remember_token:
        resp.set_cookie(settings.remember_cookie, result.remember_token,
                        max_age=result.remember_max_age, httponly=True, secure=True,
                        samesite="Lax", path="/")
    return resp


def client_ip(request: web.Request) -> str:
    """The client's address (shared.http.client_ip: the chain the gateway forwards, read from the
    right past MFA_TRUSTED_PROXIES)."""
    return behind_gateway(request.headers.get("X-Forwarded-For"), request.remote,
                          request.app[SETTINGS].trusted_proxies)


def stores_of(request: web.Request) -> Stores:
    """The stores of the app serving this request."""
    return request.app[STORES]


async def _healthz(request: web.Request) -> web.Response:
    return json_ok({"status": "ok", "service": request.app[SERVICE]})


_NOT_READY: tuple[type[BaseException], ...] = (TimeoutError, MfaError, *STORE_FAULTS)


async def _readyz(request: web.Request) -> web.Response:
    ready = READY.labels(request.app[SERVICE])
    try:
        for check in request.app[READY_CHECKS]:
            await asyncio.wait_for(check(request.app), 3)
    except _NOT_READY:
        ready.set(0)
        return error_response(503, "Not ready", "ER-MFA-NOT-READY")
    ready.set(1)
    return json_ok({"status": "ready", "service": request.app[SERVICE]})


async def _freeze_startup_objects(app: web.Application) -> None:
    """Everything built before the first request lives as long as the process: move it out of
    the garbage collector's generations, so collections during load walk only request garbage
    (shorter pauses, less CPU; gc.freeze's documented use)."""
    gc.collect()
    gc.freeze()


def base_app(name: str, settings: Settings) -> web.Application:
    """An app with the shared middlewares, body limit and health endpoints."""
    middlewares = [request_context]
    if tracing.configure(name):  # OTEL_* asked for traces: one server span per request
        middlewares.insert(0, tracing.server_span)
    app = web.Application(middlewares=middlewares, client_max_size=settings.max_body_bytes)
    app.on_startup.append(_freeze_startup_objects)
    app[SERVICE] = name
    app[SETTINGS] = settings
    app[READY_CHECKS] = []
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/metrics", metrics_handler)
    return app


def service_app(name: str, settings: Settings, setup_routes: Callable[[web.Application], None],
                *, stores: Stores | None = None, clock: Clock | None = None) -> web.Application:
    """A factor service: base app + stores (given, embedded; or opened here, split) + routes."""
    app = base_app(name, settings)
    drain.install(app)
    app[READY_CHECKS].append(drain.not_draining)
    app[CLOCK] = clock or (stores.clock if stores else SystemClock())
    if stores is not None:
        app[STORES] = stores
    else:
        async def _stores_ctx(app: web.Application) -> AsyncIterator[None]:
            app[STORES] = await open_stores(settings, app[CLOCK])
            yield
            await app[STORES].close()

        app.cleanup_ctx.append(_stores_ctx)

    async def _ping(app: web.Application) -> None:
        await app[STORES].ping()

    app[READY_CHECKS].append(_ping)
    setup_routes(app)
    return app


def serve(create_app: Callable[[Settings], web.Application]) -> None:
    """`python -m <part>`: settings from the environment, JSON logs, then run the app; a
    setting that cannot work ends it with one log line saying why (refusing_bad_settings)."""
    with refusing_bad_settings():  # also around the start-up contexts (the stores' URLs)
        settings = Settings.from_env()
        configure_logging(settings.log_level)
        run(create_app(settings), settings)


def run(app: web.Application, settings: Settings) -> None:
    """Serve until SIGTERM/SIGINT, then drain (shared.http.drain): the listener closes at once,
    requests on open connections are answered (with `Connection: close`) for up to
    MFA_SHUTDOWN_GRACE seconds, then the cleanup contexts close the pools."""
    drain.run(app, settings)


def path_id(request: web.Request, name: str) -> str:
    """A user or device id from the path (400 when over 200 characters)."""
    value = request.match_info[name]
    if len(value) > 200:
        raise BadRequest(f"{name}: at most 200 characters", code="ER-MFA-VALIDATION")
    return value
