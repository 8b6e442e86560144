"""The OpenAPI document: every routed path documented, every documented path routed."""

from __future__ import annotations

from marshmallow import ValidationError

from gateway.openapi import public_routes
from gateway.routes import ROUTES, match, matches
from services.operators import schemas as operators_schemas
from shared.http.schemas import LoginResponse, MfaDevices
from tests.conftest import Ids, Stack


async def test_openapi_documents_exactly_the_routed_paths(stack: Stack) -> None:
    doc = await stack.get("/openapi.json", prefix="")
    assert doc["openapi"] == "3.1.0"
    routed = {(m.lower(), p) for _, m, p, _ in public_routes(internal=True)}
    documented = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    assert documented == routed, "the tests' gateway routes the internal API"
    assert all(match(p, internal=True) for _, p in documented)
    # Every prefix in the gateway's table leads to at least one documented route.
    for prefix, _service in ROUTES:
        assert any(matches(p, prefix) for _, p in documented), prefix


async def test_every_body_route_declares_its_schemas(stack: Stack) -> None:
    for service, method, path, handler in public_routes():
        meta = getattr(handler, "__api__", None)
        assert meta is not None, f"{service} {method} {path} has no @api schemas"
        assert meta["response"] is not None, f"{method} {path} has no response schema"
    doc = await stack.get("/openapi.json", prefix="")
    op = doc["paths"]["/resources/auth/v1/user/mfa/recover"]["post"]
    schema = op["requestBody"]["content"]["application/json"]["schema"]
    assert "$ref" in schema


async def test_docs_page_lists_the_routes(stack: Stack) -> None:
    page = await stack.get("/docs", prefix="")
    assert "/resources/users/v1/mfa/devices" in page and "<table>" in page


async def test_responses_match_their_declared_schemas(stack: Stack, ids: Ids) -> None:
    body = await stack.start_session(ids)
    assert LoginResponse().validate(body) == {}
    token = stack.user_token(ids)
    devices = await stack.get("/resources/users/v1/mfa/devices", token=token)
    assert MfaDevices().validate(devices) == {}
    policy = await stack.get("/resources/configurations/v1/mfa-policy", token=token)
    assert operators_schemas.PolicyOut().validate(policy) == {}
    try:
        MfaDevices().load({"webauthn": []})
        raise AssertionError("a devices body without all four arrays must not validate")
    except ValidationError:
        pass
