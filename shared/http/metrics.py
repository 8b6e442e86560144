"""Prometheus metrics (prometheus-client). Labels never carry ids, codes or personal data."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

REQUESTS = Counter("mfa_http_requests_total", "HTTP requests by route and status",
                   ["service", "method", "route", "status"])
LATENCY = Histogram("mfa_http_request_duration_seconds", "HTTP request latency by route",
                    ["service", "method", "route"],
                    buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))
VERIFY = Counter("mfa_verify_total", "Second-factor verifications by factor and outcome "
                 "(success, wrong_code, locked; factor session: expired for an unknown or "
                 "expired MFA token, burned for one that used up its attempts)",
                 ["factor", "outcome"])
CODES_SENT = Counter("mfa_codes_sent_total", "One-time codes sent by factor, provider and "
                     "outcome (sent, failed, refused)", ["factor", "provider", "outcome"])
EVENTS = Counter("mfa_security_events_total", "Outbox events handled by consumer (webhook, "
                 "notification) and outcome (delivered, failed, skipped)",
                 ["consumer", "outcome"])
STORE_ERRORS = Counter("mfa_store_errors_total", "Redis/Postgres faults answered with 503",
                       ["service"])


_CHILDREN: dict[tuple[str, str, str, int], tuple[Any, Any]] = {}


def request_metrics(service: str, method: str, route: str, status: int) -> tuple[Any, Any]:
    """The request counter and latency histogram of one (service, method, route, status),
    looked up once (labels() costs microseconds on every request otherwise). Routes are the
    route table's templates, so the cache stays as small as the table."""
    key = (service, method, route, status)
    found = _CHILDREN.get(key)
    if found is None:
        found = _CHILDREN[key] = (REQUESTS.labels(service, method, route, str(status)),
                                  LATENCY.labels(service, method, route))
    return found


def code_sent(factor: str, provider: str, outcome: str) -> None:
    """Count one code delivery attempt."""
    CODES_SENT.labels(factor, provider, outcome).inc()


def event_handled(consumer: str, outcome: str) -> None:
    """Count one outbox event a consumer delivered, failed to deliver, or had no use for."""
    EVENTS.labels(consumer, outcome).inc()


def verified(factor: str, outcome: str) -> None:
    """Count one verification outcome."""
    VERIFY.labels(factor, outcome).inc()


async def metrics_handler(request: web.Request) -> web.Response:
    """GET /metrics in Prometheus' text format."""
    resp = web.Response(body=generate_latest())
    resp.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    return resp
