"""Which OTEL_* settings turn tracing on, the transport they pick, and the trace id read from a
caller's traceparent (what the audit rows and log lines carry with tracing off)."""

from __future__ import annotations

import pytest

from shared.http.tracing import incoming_trace_id, protocol, wanted


@pytest.mark.parametrize(("env", "on"), [
    ({}, False),
    ({"OTEL_SERVICE_NAME": "x", "OTEL_TRACES_SAMPLER": "always_on"}, False),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, True),
    ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, True),
    ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
    ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, False),
    ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}, False),
])
def test_tracing_is_off_unless_otel_variables_ask(env: dict[str, str], on: bool) -> None:
    assert wanted(env) is on


def test_an_unsupported_exporter_or_protocol_is_a_start_up_error() -> None:
    with pytest.raises(ValueError, match="OTEL_TRACES_EXPORTER"):
        wanted({"OTEL_TRACES_EXPORTER": "zipkin"})
    with pytest.raises(ValueError, match="OTEL_EXPORTER_OTLP_PROTOCOL"):
        protocol({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"})
    assert protocol({}) == "http/protobuf"
    assert protocol({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                     "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"}) == "grpc"


def test_the_trace_id_of_a_traceparent() -> None:
    tid = "4bf92f3577b34da6a3ce929d0e0e4736"
    assert incoming_trace_id(f"00-{tid}-00f067aa0ba902b7-01") == tid
    for bad in (None, "", "garbage", f"00-{'0' * 32}-00f067aa0ba902b7-01",
                f"00-{tid.upper()}-00f067aa0ba902b7-01", f"00-{tid}-short-01"):
        assert incoming_trace_id(bad) is None
