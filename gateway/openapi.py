"""OpenAPI 3.1 for every public route, built from the services' route tables and the
marshmallow schemas their handlers declare (shared.http.web.api), plus a readable docs page."""

from __future__ import annotations

import html
import json
from typing import Any

from aiohttp import web
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from gateway.routes import match, service_route_setups
from shared.http.schemas import JSON_SCHEMA_RULES, ErrorEnvelope

_SECURITY: dict[str, list[dict[str, list[str]]]] = {
    "bearer": [{"bearer": []}], "internal": [{"internalApiKey": []}],
    "tenant": [{"bearer": []}, {"internalApiKey": []}], "bearerOptional": [{"bearer": []}, {}],
    "config": [{"bearer": []}, {"internalApiKey": []}],
    "vendor": [{"internalApiKey": []}, {"bearer": []}]}
_VENDOR_FORM = ("A vendor credential (the internal API key, or a token granting MFA_VENDOR_CLAIM) "
                "with `frontegg-user-id` runs the vendor form instead: no code needed, audited "
                "with the actor; 400 ER-01097 when the user has no MFA.")


def public_routes(*, internal: bool = False) -> list[tuple[str, str, str, Any]]:
    """(service, method, path, handler) of every route the gateway serves publicly (and,
    with `internal`, the internal API it routes when MFA_EXPOSE_INTERNAL_API is on). The
    support console's pages declare no API (`@api`): they are not in the document."""
    out = []
    for name, setup_routes in service_route_setups().items():
        app = web.Application()
        setup_routes(app)
        for route in app.router.routes():
            path = route.resource.canonical if route.resource else ""
            if (route.method != "HEAD" and match(path, internal=internal) == name
                    and hasattr(route.handler, "__api__")):
                out.append((name, route.method, path, route.handler))
    return sorted(out, key=lambda r: (r[2], r[1]))


def _operation(spec: APISpec, service: str, method: str, handler: Any) -> dict[str, Any]:
    meta = getattr(handler, "__api__", {})
    doc = (handler.__doc__ or "").strip().splitlines()
    op: dict[str, Any] = {"summary": doc[0] if doc else "", "tags": [service],
                          "operationId": f"{service}.{handler.__name__}"}
    params = [{"name": n.rstrip("?"), "in": "query", "required": not n.endswith("?"),
               "schema": {"type": "string"}, "description": d}
              for n, d in meta.get("query", {}).items()]
    if params:
        op["parameters"] = params
    if meta.get("request") is not None:
        # An absent body is read as {}: optional only when {} is a valid body.
        needed = any(f.required for f in meta["request"]().fields.values())
        op["requestBody"] = {"required": needed, "content": {"application/json": {
            "schema": meta["request"]}}}
    ok: dict[str, Any] = {"description": "Success"}
    if meta.get("response") is not None:
        ok["content"] = {meta.get("media", "application/json"): {"schema": meta["response"]}}
    op["responses"] = {str(meta.get("status", 200)): ok, "4XX": {
        "description": "Frontegg error envelope",
        "content": {"application/json": {"schema": "ErrorEnvelope"}}}}
    if meta.get("auth") in _SECURITY:
        op["security"] = _SECURITY[meta["auth"]]
    if meta.get("vendor") is not None:
        op["security"] = [*op["security"], {"internalApiKey": []}]
        op["description"] = _VENDOR_FORM
    return op


def build_spec(mount_prefix: str, *, internal: bool = False) -> dict[str, Any]:
    """The OpenAPI document; paths as /resources/..., also served under the mount prefix;
    with `internal`, the internal API too (the gateway routes it)."""
    spec = APISpec(title="MFA service (Frontegg MFA API)", version="1", openapi_version="3.1.0",
                   plugins=[MarshmallowPlugin()],
                   servers=[{"url": mount_prefix or "/"}, {"url": "/"}])
    spec.components.schema("ErrorEnvelope", schema=ErrorEnvelope)
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer",
                                               "bearerFormat": "JWT"})
    spec.components.security_scheme("internalApiKey", {"type": "http", "scheme": "bearer"})
    by_path: dict[str, dict[str, Any]] = {}
    for service, method, path, handler in public_routes(internal=internal):
        by_path.setdefault(path, {})[method.lower()] = _operation(spec, service, method, handler)
    for path, ops in by_path.items():
        spec.path(path=path, operations=ops)
    doc = spec.to_dict()
    for name, schema in doc.get("components", {}).get("schemas", {}).items():
        schema.pop("additionalProperties", None)  # unknown fields are ignored, not refused
        schema.update(JSON_SCHEMA_RULES.get(name, {}))
    return doc


def docs_page(doc: dict[str, Any]) -> str:
    """A self-contained HTML page listing every operation and its schemas."""
    rows = []
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            rows.append(
                f"<tr><td><code>{method.upper()}</code></td><td><code>{html.escape(path)}</code>"
                f"</td><td>{html.escape(op.get('summary', ''))}</td><td><code>"
                f"{html.escape(json.dumps(body.get('schema', '')))}</code></td></tr>")
    return ("<!doctype html><meta charset=utf-8><title>MFA service API</title>"
            "<style>body{font-family:sans-serif;margin:2em}td{border-bottom:1px solid #ddd;"
            "padding:4px 8px;vertical-align:top}</style><h1>MFA service API</h1>"
            "<p>Frontegg's MFA API. Machine-readable: <a href=openapi.json>openapi.json</a>."
            "</p><table><tr><th>method</th><th>path</th><th>what</th><th>body</th></tr>"
            + "".join(rows) + "</table>")
