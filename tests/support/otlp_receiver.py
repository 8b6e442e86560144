"""A real OTLP trace receiver, run as its own process by the tracing tests and the benchmark:
`python -m tests.support.otlp_receiver --http-port P [--grpc-port Q] [--count-only]`.

It speaks both OTLP transports the service can export with: HTTP/protobuf (POST /v1/traces,
an `ExportTraceServiceRequest` body, opentelemetry-proto's messages) and gRPC
(`opentelemetry.proto.collector.trace.v1.TraceService/Export`, served with grpcio). What it
received is read back over HTTP: GET /spans answers every span as JSON (trace and span ids
in hex, the parent's, name, kind, the resource's service.name, attributes, status, the
transport it came by); GET /count answers {"spans": n}; DELETE /spans forgets them.
`--count-only` keeps only the count (the benchmark's sink). It prints "ready" once both
listeners are up."""

from __future__ import annotations

import argparse
import asyncio
import gzip
from typing import Any

import grpc
from aiohttp import web
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

KINDS = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer",
         5: "consumer"}


def _value(v: AnyValue) -> Any:
    which = v.WhichOneof("value")
    if which == "array_value":
        return [_value(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in v.kvlist_value.values}
    if which == "bytes_value":
        return v.bytes_value.hex()
    return getattr(v, which) if which else None


class Received:
    """The spans (or only their number) received by either transport."""

    def __init__(self, count_only: bool) -> None:
        self.count_only = count_only
        self.count = 0
        self.spans: list[dict[str, Any]] = []

    def add(self, request: trace_service_pb2.ExportTraceServiceRequest, via: str) -> None:
        """Record every span of one export request."""
        for rs in request.resource_spans:
            resource = {kv.key: _value(kv.value) for kv in rs.resource.attributes}
            for ss in rs.scope_spans:
                self.count += len(ss.spans)
                if self.count_only:
                    continue
                for s in ss.spans:
                    self.spans.append({
                        "traceId": s.trace_id.hex(), "spanId": s.span_id.hex(),
                        "parentSpanId": s.parent_span_id.hex(), "name": s.name,
                        "kind": KINDS.get(s.kind, str(s.kind)),
                        "service": resource.get("service.name"), "scope": ss.scope.name,
                        "attributes": {kv.key: _value(kv.value) for kv in s.attributes},
                        "status": s.status.code, "via": via,
                        "start": s.start_time_unix_nano, "end": s.end_time_unix_nano})


def http_app(received: Received) -> web.Application:
    """OTLP/HTTP (protobuf) and the read-back routes."""
    async def export(request: web.Request) -> web.Response:
        if request.content_type != "application/x-protobuf":
            return web.Response(status=415, text="protobuf only")
        body = await request.read()
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        message = trace_service_pb2.ExportTraceServiceRequest()
        message.ParseFromString(body)
        received.add(message, "http")
        answer = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
        return web.Response(body=answer, content_type="application/x-protobuf")

    async def spans(request: web.Request) -> web.Response:
        return web.json_response(received.spans)

    async def count(request: web.Request) -> web.Response:
        return web.json_response({"spans": received.count})

    async def forget(request: web.Request) -> web.Response:
        received.spans.clear()
        received.count = 0
        return web.json_response({})

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/v1/traces", export)
    app.router.add_get("/spans", spans)
    app.router.add_get("/count", count)
    app.router.add_delete("/spans", forget)
    return app


class _TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, received: Received) -> None:
        self._received = received

    async def Export(self, request: Any, context: Any) -> Any:  # noqa: N802 - gRPC's name
        self._received.add(request, "grpc")
        return trace_service_pb2.ExportTraceServiceResponse()


async def serve(http_port: int, grpc_port: int | None, count_only: bool) -> None:
    """Both listeners on 127.0.0.1 until killed."""
    received = Received(count_only)
    runner = web.AppRunner(http_app(received), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", http_port).start()
    server = None
    if grpc_port:
        server = grpc.aio.server()
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_TraceService(received),
                                                                  server)
        server.add_insecure_port(f"127.0.0.1:{grpc_port}")
        await server.start()
    print("ready", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        if server is not None:
            await server.stop(None)
        await runner.cleanup()


def main() -> None:
    """Parse the ports and serve."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--http-port", type=int, required=True)
    p.add_argument("--grpc-port", type=int)
    p.add_argument("--count-only", action="store_true")
    a = p.parse_args()
    asyncio.run(serve(a.http_port, a.grpc_port, a.count_only))


if __name__ == "__main__":
    main()
