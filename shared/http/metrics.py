"""Prometheus metrics (prometheus-client). Labels never carry user or device ids, codes or
personal data; the tenant id is a label only where an alert needs it per tenant (SMS sends,
lockouts), bounded by tenant_label. deploy/monitoring's alerts and dashboard use these names
(tests/deploy/test_alerts.py checks that each one they name is exported)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

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
SMS_SENDS = Counter("mfa_sms_sends_total", "SMS codes handed to the provider by tenant, "
                    "country calling code and outcome (sent, failed)",
                    ["tenant", "country", "outcome"])
SMS_BUDGET = Gauge("mfa_sms_hourly_budget", "SMS sends an hour that are expected at most: "
                   "scope tenant is the enforced per-tenant cap (MFA_SMS_TENANT_HOURLY_LIMIT), "
                   "scope country the alerting budget of a calling code (MFA_SMS_COUNTRY_BUDGETS, "
                   "country * for the others)", ["scope", "country"])
LOCKOUTS = Counter("mfa_lockouts_total", "Factors locked: the attempt that reached the lock "
                   "threshold, by factor and tenant", ["factor", "tenant"])
REFUSED = Counter("mfa_attempts_refused_total", "Attempts refused before any comparison, by "
                  "factor and reason (delayed, locked, burned, expired, recovery_limit)",
                  ["factor", "reason"])
WEBHOOK_BACKLOG = Gauge("mfa_webhook_backlog_events", "Security events not yet delivered to "
                        "the webhooks (operators' dispatcher; read at most every 15 s)")
WEBHOOK_OLDEST = Gauge("mfa_webhook_oldest_pending_seconds", "Age of the oldest security event "
                       "not yet delivered to the webhooks (0: none)")
READY = Gauge("mfa_ready", "1 when the part's /readyz last answered ready, 0 when not",
              ["service"])
UPSTREAM_READY = Gauge("mfa_upstream_ready", "Gateway: 1 when the upstream had a ready replica "
                       "at the last readiness check, 0 when not", ["upstream"])

# Distinct tenant label values one process keeps; later tenants share "other", so a deployment
# with many tenants cannot blow up the series count.
MAX_TENANT_LABELS = 500
_TENANTS: set[str] = set()


def tenant_label(tenant_id: str) -> str:
    """The tenant as a label value: its id for the first MAX_TENANT_LABELS tenants seen by
    this process, "other" after that."""
    if tenant_id in _TENANTS:
        return tenant_id
    if len(_TENANTS) >= MAX_TENANT_LABELS:
        return "other"
    _TENANTS.add(tenant_id)
    return tenant_id


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


def sms_sent(tenant_id: str, country: str, outcome: str) -> None:
    """Count one SMS handed to the provider (or failed there), per tenant and calling code."""
    SMS_SENDS.labels(tenant_label(tenant_id), country, outcome).inc()


def locked(factor: str, tenant_id: str) -> None:
    """Count one factor reaching its lock threshold."""
    LOCKOUTS.labels(factor, tenant_label(tenant_id)).inc()


def refused(factor: str, reason: str) -> None:
    """Count one attempt refused before its comparison."""
    REFUSED.labels(factor, reason).inc()


async def metrics_handler(request: web.Request) -> web.Response:
    """GET /metrics in Prometheus' text format."""
    resp = web.Response(body=generate_latest())
    resp.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    return resp
