"""OpenTelemetry traces: off unless the standard OTEL_* environment variables configure them.

On when `OTEL_TRACES_EXPORTER` is `otlp`, or when it is unset and an OTLP endpoint is set
(`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`); off with
`OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`. The transport is
`OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` or `OTEL_EXPORTER_OTLP_PROTOCOL`: `http/protobuf` (the
default) or `grpc`. The SDK itself reads the sampler (`OTEL_TRACES_SAMPLER`,
`OTEL_TRACES_SAMPLER_ARG`; default parentbased_always_on), the exporter's endpoint, headers,
timeout and compression, the batch processor's `OTEL_BSP_*`, and `OTEL_RESOURCE_ATTRIBUTES`;
`OTEL_SERVICE_NAME` defaults to `mfa-<part>` (mfa-gateway, mfa-session, ...; mfa-embedded).

What makes the spans: the OpenTelemetry project's instrumentations for the aiohttp client (the
gateway's hop, the SMS provider and webhook calls: they send `traceparent`), redis-py and asyncpg;
`server_span` here for every request served (the project's aiohttp-server instrumentation puts
the query string in its attributes, and the query can hold an mfaToken, so it is not used);
`span(...)` for SMTP and the SMS provider. No attribute holds a code, token, secret, phone
number or email: URLs go without their query, Redis commands are recorded as `COMMAND ? ?`
(the instrumentation's own sanitising), SQL without its parameters, and request spans carry
the route template, never the path. docs/tracing.md has the span tree of a login."""

from __future__ import annotations

import os
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from aiohttp import web
from opentelemetry import trace
from opentelemetry.propagate import extract
from opentelemetry.trace import SpanKind, Status, StatusCode
from yarl import URL

TRACER = trace.get_tracer("mfa")  # a no-op until configure() installs the SDK's provider
PROTOCOLS = ("http/protobuf", "grpc")
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")
_state = {"on": False}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def wanted(env: Mapping[str, str]) -> bool:
    """Whether the OTEL_* variables ask for traces."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter:
        names = {e.strip() for e in exporter.split(",")}
        if names - {"otlp", "none"}:
            raise ValueError("OTEL_TRACES_EXPORTER: only otlp (or none) is supported")
        return "otlp" in names
    return bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
                or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def protocol(env: Mapping[str, str]) -> str:
    """The OTLP transport asked for (http/protobuf by default)."""
    value = (env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
             or env.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf").strip().lower()
    if value not in PROTOCOLS:
        raise ValueError(f"OTEL_EXPORTER_OTLP_PROTOCOL: one of {', '.join(PROTOCOLS)}")
    return value


def enabled() -> bool:
    """Whether this process exports traces."""
    return _state["on"]


def _without_query(url: URL) -> str:
    return str(url.with_query(None).with_fragment(None).with_user(None))


def configure(part: str, env: Mapping[str, str] | None = None) -> bool:
    """Install the SDK's tracer provider, the OTLP exporter and the instrumentations when the
    environment asks for traces (once per process); whether traces are on."""
    env = os.environ if env is None else env
    if _state["on"] or not wanted(env):
        return _state["on"]
    from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    exporter: Any
    if protocol(env) == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        exporter = OTLPSpanExporter()
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter as HttpExporter,
        )
        exporter = HttpExporter()
    named = env.get("OTEL_SERVICE_NAME") or "service.name=" in env.get(
        "OTEL_RESOURCE_ATTRIBUTES", "")
    resource = Resource.create({} if named else {"service.name": f"mfa-{part}"})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    AioHttpClientInstrumentor().instrument(url_filter=_without_query)
    RedisInstrumentor().instrument()
    AsyncPGInstrumentor().instrument()
    _state["on"] = True
    return True


def shutdown() -> None:
    """Export what is still buffered (at the end of a drain)."""
    provider = trace.get_tracer_provider()
    if _state["on"] and hasattr(provider, "shutdown"):
        provider.shutdown()


def current_trace_id() -> str | None:
    """The trace id (32 hex digits) of the span in progress, or None (tracing off)."""
    if not _state["on"]:
        return None
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None


def incoming_trace_id(traceparent: str | None) -> str | None:
    """The trace id of a W3C traceparent header (tracing off: the caller's trace)."""
    if not traceparent:
        return None
    m = _TRACEPARENT.match(traceparent.strip())
    if m is None or m.group(1) == "0" * 32:
        return None
    return m.group(1)


@web.middleware
async def server_span(request: web.Request, handler: Handler) -> web.StreamResponse:
    """One server span per request, continuing the caller's trace (W3C traceparent): named
    by the route template (the gateway renames its own by the upstream, gateway/app.py)."""
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else ""
    with TRACER.start_as_current_span(
            f"{request.method} {route}".rstrip(), context=extract(request.headers),
            kind=SpanKind.SERVER, attributes={"http.request.method": request.method,
                                              "http.route": route}) as s:
        resp = await handler(request)
        s.set_attribute("http.response.status_code", resp.status)
        if resp.status >= 500:
            s.set_status(Status(StatusCode.ERROR))
        return resp


def name_request(name: str, **attributes: str) -> None:
    """Rename the request's server span (the gateway: by the service it forwards to)."""
    s = trace.get_current_span()
    if s.is_recording():
        s.update_name(name)
        s.set_attributes(attributes)


@contextmanager
def span(name: str, kind: SpanKind = SpanKind.INTERNAL, **attributes: Any) -> Iterator[Any]:
    """A span around a call the instrumentations do not see (SMTP, an SMS provider); an
    exception marks it failed (by the exception's class, never its message)."""
    with TRACER.start_as_current_span(name, kind=kind, attributes=attributes,
                                      record_exception=False,
                                      set_status_on_exception=False) as s:
        try:
            yield s
        except BaseException as e:
            s.set_status(Status(StatusCode.ERROR, e.__class__.__name__))
            raise
