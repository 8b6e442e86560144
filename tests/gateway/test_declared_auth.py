"""The auth a route declares in @api is the auth it gets: the middleware enforces it, and a
handler can read only what its declaration puts on the request."""

from __future__ import annotations

import inspect
import re

import pytest

from gateway.openapi import public_routes
from tests.conftest import Ids, Stack

ROUTES = public_routes()
NEEDS = {"access.principal(": ("bearer", "bearerOptional"),
         "access.optional_principal(": ("bearerOptional",),
         "access.session(": ("mfaToken",), "access.tenant(": ("tenant", "config"),
         "access.vendor(": ("vendor",)}


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "some-id", path)


@pytest.mark.parametrize(("service", "method", "path", "handler"), ROUTES,
                         ids=[f"{m} {p}" for _, m, p, _ in ROUTES])
def test_a_handler_reads_only_what_its_route_declares(service: str, method: str, path: str,
                                                      handler: object) -> None:
    meta = handler.__api__  # type: ignore[attr-defined]
    source = inspect.getsource(handler)  # type: ignore[arg-type]
    for call, kinds in NEEDS.items():
        if call in source:
            assert meta["auth"] in kinds, f"{path} reads {call} but declares {meta['auth']}"
    assert ("access.attempt(" in source) == bool(meta["attempt"]), path
    if meta["attempt"] or meta["lockout"]:
        assert meta["auth"] in ("mfaToken", "bearer"), path


async def test_every_bearer_route_refuses_a_request_without_a_token(stack: Stack) -> None:
    checked = 0
    for _, method, path, handler in ROUTES:
        if handler.__api__["auth"] not in ("bearer", "tenant"):  # type: ignore[attr-defined]
            continue
        res = await stack.call(method, _concrete(path), json={}, expected_status=401)
        assert res["errorCode"] in ("ER-MFA-UNAUTHORIZED",), (path, res)
        checked += 1
    assert checked >= 15


async def test_every_mfa_token_route_refuses_an_unknown_token(stack: Stack, ids: Ids) -> None:
    """A well-formed body with a token that names no session: 401 before anything runs."""
    bodies = {"value": "123456", "token": "123456", "otcToken": "x" * 43, "code": "123456",
              "phoneNumber": "+12015550123", "webauthnToken": "x" * 43,
              "recoveryCode": "AAAAA-BBBBB-CCCCC-DDDDD"}
    checked = 0
    for _, method, path, handler in ROUTES:
        meta = handler.__api__  # type: ignore[attr-defined]
        if meta["auth"] != "mfaToken" or "webauthn" in path and "verify" in path:
            continue  # the WebAuthn finishes need a whole credential to pass validation
        if method == "GET":
            res = await stack.call("GET", _concrete(path) + "?mfaToken=nope.0123456789abcdef",
                                   expected_status=401)
        else:
            res = await stack.call(method, _concrete(path), expected_status=401,
                                   json={"mfaToken": "nope.0123456789abcdef", **bodies})
        assert res["errorCode"] == "ER-MFA-INVALID-MFA-TOKEN", (path, res)
        checked += 1
    assert checked >= 10


async def test_a_nul_in_a_path_id_is_a_404_not_a_500(stack: Stack, ids: Ids) -> None:
    """Postgres text cannot hold a NUL: an id with one names nothing (and changes nothing)."""
    token = stack.user_token(ids)
    for method, path, body in (
            ("DELETE", "/resources/users/v1/mfa/trusted-devices/a%00b", None),
            ("PATCH", "/resources/users/v1/mfa/devices/a%00b", {"name": "x"}),
            ("DELETE", "/resources/users/webauthn/v1/devices/a%00b", None),
            ("POST", "/resources/users/v1/mfa/authenticator/a%00b/disable/verify",
             {"token": "123456"})):
        res = await stack.call(method, path, json=body, token=token, expected_status=404)
        assert res["errorCode"] == "ER-MFA-404"
