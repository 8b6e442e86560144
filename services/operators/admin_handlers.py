"""HTTP handlers of the native admin API under /internal/v1/admin (internal API key; routed
by the gateway only with MFA_EXPOSE_INTERNAL_API): a user's factors, the audit trail and its
export, a tenant's adoption. Parse, call the cores (shared.mfa.resets, trail, adoption), dump.
The operator may name themself in `X-MFA-Actor` (kept in the audit rows; default `admin`)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from marshmallow import EXCLUDE, Schema, ValidationError

from services.operators import adoption, importing, schemas, trail
from shared.http.errors import BadRequest
from shared.http.schemas import Empty, Reason
from shared.http.web import api, json_ok, path_id, read_body, stores_of
from shared.mfa import hotp
from shared.mfa import resets as factors

_FILTERS = {"tenantId?": "tenant", "userId?": "user", "factor?": "totp, sms, email, "
            "webauthn, recovery, config, ...", "action?": "enroll, verify, failure, lockout, "
            "disable, reset, unlock, recovery, send, ...", "from?": "ISO 8601 or Unix seconds "
            "(inclusive)", "to?": "ISO 8601 or Unix seconds (exclusive)"}
_PERIOD = 30 * 86400


def _actor(request: web.Request, reason: str | None) -> factors.Actor:
    name = request.headers.get("X-MFA-Actor", "").strip()[:100] or "admin"
    return factors.Actor(name, reason)


def _who(request: web.Request) -> tuple[str, str]:
    return path_id(request, "tenantId"), path_id(request, "userId")


def _query(request: web.Request, schema: type[Schema]) -> dict[str, Any]:
    try:
        return schema().load(dict(request.query), unknown=EXCLUDE)  # type: ignore[no-any-return]
    except ValidationError as e:
        field, errors = next(iter(e.normalized_messages().items()))
        raise BadRequest(f"{field}: {errors[0] if isinstance(errors, list) else errors}",
                         code="ER-MFA-VALIDATION") from None


def _filter(q: dict[str, Any]) -> trail.AuditFilter:
    return trail.AuditFilter(tenant_id=q["tenantId"], user_id=q["userId"], factor=q["factor"],
                             action=q["action"], since=q["from_"], until=q["to"])


@api(response=schemas.Factors, auth="internal")
async def list_factors(request: web.Request) -> web.Response:
    """GET .../tenants/{tenantId}/users/{userId}/factors: factors and lockouts."""
    return json_ok(await factors.list_factors(stores_of(request), *_who(request)))


@api(request=Reason, response=Empty, auth="internal")
async def delete_factor(request: web.Request) -> web.Response:
    """DELETE .../users/{userId}/factors/{deviceId}: remove one factor."""
    body = await read_body(request)
    await factors.delete_factor(stores_of(request), _actor(request, body["reason"]),
                                *_who(request), path_id(request, "deviceId"))
    return json_ok({})


@api(request=schemas.ImportBody, response=schemas.ImportResult, auth="internal")
async def import_user(request: web.Request) -> web.Response:
    """POST .../users/{userId}/import: the native import of one user's enrollments."""
    body = await read_body(request)
    return json_ok(await importing.import_user(stores_of(request), *_who(request), body,
                                               actor=_actor(request, None).name))


@api(request=schemas.Resync, response=schemas.Resynced, auth="internal")
async def resync(request: web.Request) -> web.Response:
    """POST .../users/{userId}/factors/{deviceId}/resync {codes}: an HOTP token's counter moved
    past two consecutive codes."""
    body = await read_body(request)
    first, second = body["codes"]
    counter = await hotp.resync(stores_of(request), _actor(request, body["reason"]),
                                *_who(request), path_id(request, "deviceId"), first, second)
    return json_ok({"counter": counter})


@api(request=Reason, response=schemas.Removed, auth="internal")
async def reset(request: web.Request) -> web.Response:
    """POST .../users/{userId}/reset: every credential the registry's reset removes (400
    ER-01097 when the user holds none)."""
    body = await read_body(request)
    removed = await factors.reset(stores_of(request), _actor(request, body["reason"]),
                                  *_who(request))
    return json_ok(factors.reset_answer(removed))


@api(request=schemas.Unlock, response=schemas.Unlocked, auth="internal")
async def unlock(request: web.Request) -> web.Response:
    """POST .../users/{userId}/unlock {factor?}: lift one factor's lockout, or all."""
    body = await read_body(request)
    was = await factors.unlock(stores_of(request), _actor(request, body["reason"]),
                               *_who(request), body["factor"])
    return json_ok({"wasLocked": was})


@api(response=schemas.AuditPage, auth="internal",
     query={**_FILTERS, "cursor?": "nextCursor of the previous page", "limit?": "1-500"})
async def audit(request: web.Request) -> web.Response:
    """GET /internal/v1/admin/audit: the trail, oldest first, a page at a time."""
    q = _query(request, schemas.AuditQuery)
    rows, cursor = await trail.page(stores_of(request).db, _filter(q), cursor=q["cursor"],
                                    limit=q["limit"])
    return json_ok({"events": [trail.event_json(r) for r in rows], "nextCursor": cursor})


@api(response=schemas.AuditEventOut, auth="internal", query=_FILTERS,
     media="application/x-ndjson")
async def export_audit(request: web.Request) -> web.StreamResponse:
    """GET /internal/v1/admin/audit/export: every matching row, one JSON object a line."""
    q = _query(request, schemas.AuditQuery)
    lines = trail.export(stores_of(request).db, _filter(q))
    first = await anext(lines, None)  # a store fault still answers an envelope
    resp = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
    await resp.prepare(request)
    if first is not None:
        await resp.write(first.encode())
        async for line in lines:
            await resp.write(line.encode())
    await resp.write_eof()
    return resp


@api(response=schemas.LockoutExplanation, auth="internal",
     query={"factor?": "totp, sms, email, webauthn or recovery (default: all)",
            "from?": "the timeline from, ISO 8601 or Unix seconds (default: 30 days ago)"})
async def explain_lockout(request: web.Request) -> web.Response:
    """GET .../tenants/{tenantId}/users/{userId}/lockout: why the user is locked out."""
    q = _query(request, schemas.LockoutQuery)
    return json_ok(await trail.explain_lockout(stores_of(request), *_who(request),
                                               factor=q["factor"], since=q["from_"]))


@api(response=schemas.Adoption, auth="internal",
     query={"from?": "ISO 8601 or Unix seconds (default: 30 days ago)",
            "to?": "ISO 8601 or Unix seconds (default: now)"})
async def tenant_adoption(request: web.Request) -> web.Response:
    """GET .../tenants/{tenantId}/adoption: enrolled users by factor, lockouts, codes sent."""
    q = _query(request, schemas.Period)
    stores = stores_of(request)
    now = stores.clock.time()
    since = q["from_"] if q["from_"] is not None else (q["to"] or now) - _PERIOD
    return json_ok(await adoption.adoption(stores.db, path_id(request, "tenantId"),
                                           since=since, until=q["to"], now=now))
