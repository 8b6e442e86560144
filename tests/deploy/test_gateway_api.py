"""The Gateway API component: its HTTPRoutes are what gateway/routes.py renders, every path
the Python gateway routes reaches the same service with the same path (both mount prefixes),
nothing else is routed (/internal never), and overlays/gateway-api renders without the Python
gateway and validates (HTTPRoute against Gateway API v1's own limits: it is a CRD)."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.httproute import MOUNT_PREFIX, PORT, render
from gateway.routes import INTERNAL_ROUTES, ROUTES, match, service_route_setups, strip_prefix
from shared.http.web import base_app
from shared.settings import Settings
from tests.deploy.test_manifests import (
    K8S,
    K8S_VERSION,
    Obj,
    _tools_missing,
    by_name,
    objs,
    of_kind,
)

__all__ = ["objs"]  # the fixture, imported for its parameter below

COMPONENT = K8S / "components" / "gateway-api" / "httproutes.yaml"
GATEWAY_KINDS = ("Deployment", "Service", "ServiceAccount", "HorizontalPodAutoscaler",
                 "PodDisruptionBudget", "Ingress", "NetworkPolicy")


@pytest.fixture
def overlay() -> str:
    """Only the Gateway API overlay here (objs renders it)."""
    return "gateway-api"


# The service of the one route table prefix with a `{}` segment (the unlock route).
SEGMENT_SERVICE = dict(ROUTES)["/resources/users/v1/{}/unlock"]


def service_app(settings: Settings) -> Any:
    """That service's routes without stores (an unknown path never reaches them)."""
    app = base_app(SEGMENT_SERVICE, settings)
    service_route_setups()[SEGMENT_SERVICE](app)
    return app


def segment_prefix(prefix: str, path: str) -> bool:
    """Gateway API PathPrefix: whole path elements ("/a" matches "/a" and "/a/b", not "/ab")."""
    prefix = prefix.rstrip("/") or "/"
    return prefix == "/" or path == prefix or path.startswith(prefix + "/")


def gateway_api_route(routes: list[Obj], path: str) -> tuple[str, str] | None:
    """(service, path sent) as a Gateway API implementation routes `path`: the rule with the
    longest matching PathPrefix across all routes wins; URLRewrite ReplacePrefixMatch
    replaces the matched prefix."""
    best: tuple[int, str, str] | None = None
    for route in routes:
        for rule in route["spec"]["rules"]:
            for m in rule["matches"]:
                value = m["path"]["value"]
                if m["path"]["type"] != "PathPrefix" or not segment_prefix(value, path):
                    continue
                sent = path
                for f in rule.get("filters", []):
                    if f["type"] == "URLRewrite":
                        sent = f["urlRewrite"]["path"]["replacePrefixMatch"] + path[len(value):]
                (backend,) = rule["backendRefs"]
                if best is None or len(value) > best[0]:
                    best = (len(value), backend["name"], sent)
    return None if best is None else (best[1], best[2])


def python_gateway_route(path: str) -> tuple[str, str] | None:
    """(service, path sent) as gateway/app.py routes it (internal API not exposed)."""
    stripped = strip_prefix(path, MOUNT_PREFIX)
    service = match(stripped)
    return None if service is None else (service, stripped)


def test_the_committed_routes_are_what_the_table_renders() -> None:
    assert COMPONENT.read_text() == render(), (
        "run: python -m gateway.httproute > deploy/k8s/components/gateway-api/httproutes.yaml")


def test_every_route_reaches_the_same_service_with_the_same_path(objs: tuple[Obj, ...]) -> None:
    routes = of_kind(objs, "HTTPRoute")
    for table_prefix, service in ROUTES:
        prefix = table_prefix.replace("{}", "u-1")  # one path segment
        for mount in ("", MOUNT_PREFIX):
            for tail in ("", "/x", "/abc/verify"):
                path = mount + prefix + tail
                assert python_gateway_route(path) == (service, prefix + tail), path
                assert gateway_api_route(routes, path) == (service, prefix + tail), path


@pytest.mark.parametrize("path", [
    "/internal/v1/mfa/sessions", f"{MOUNT_PREFIX}/internal/v1/mfa/sessions", "/internal",
    "/metrics", "/openapi.json", "/docs", "/healthz", "/", "/resources",
    "/resources/auth/v1/user/mfa/verifyx",
    f"{MOUNT_PREFIX}", "/frontegg/resources/users/v1/mfa/devices",
])
def test_nothing_else_is_routed(objs: tuple[Obj, ...], path: str) -> None:
    assert python_gateway_route(path) is None
    assert gateway_api_route(of_kind(objs, "HTTPRoute"), path) is None


@pytest.mark.parametrize("path", ["/resources/users/v1/mfa", "/resources/users/v1/u-1",
                                  "/resources/users/v1/u-1/lock"])
async def test_a_path_only_a_segment_rule_catches_gets_the_services_own_404(
        objs: tuple[Obj, ...], path: str, aiohttp_client: Any) -> None:
    # "/resources/users/v1/{}/unlock" is rendered as PathPrefix /resources/users/v1 (a
    # PathPrefix cannot hold a wildcard): what else it catches reaches that route's service
    # (operators), which answers its own 404 envelope, where the Python gateway answers its.
    assert python_gateway_route(path) is None
    for mount in ("", MOUNT_PREFIX):
        assert gateway_api_route(of_kind(objs, "HTTPRoute"), mount + path) == (
            SEGMENT_SERVICE, path)
    client = await aiohttp_client(service_app(Settings()))
    async with client.post(path, json={}) as r:
        assert (r.status, (await r.json())["errorCode"]) == (404, "ER-MFA-404")


def test_no_rule_names_the_internal_api(objs: tuple[Obj, ...]) -> None:
    internal = [p for p, _ in INTERNAL_ROUTES]
    for route in of_kind(objs, "HTTPRoute"):
        for rule in route["spec"]["rules"]:
            for m in rule["matches"]:
                value = m["path"]["value"]
                assert not any(segment_prefix(value, p) or segment_prefix(p, value)
                               or segment_prefix(MOUNT_PREFIX + p, value) for p in internal)


def test_routes_keep_within_gateway_api_v1_limits(objs: tuple[Obj, ...]) -> None:
    services = by_name(objs, "Service")
    for route in of_kind(objs, "HTTPRoute"):
        spec: dict[str, Any] = route["spec"]
        assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
        assert route["metadata"]["namespace"] == "mfa"
        assert 1 <= len(spec["parentRefs"]) <= 32 and len(spec["hostnames"]) <= 16
        assert 1 <= len(spec["rules"]) <= 16  # the CRD's maxItems
        for rule in spec["rules"]:
            assert 1 <= len(rule["matches"]) <= 64
            for m in rule["matches"]:
                assert m["path"]["value"].startswith("/") and len(m["path"]["value"]) <= 1024
            for f in rule.get("filters", []):  # ReplacePrefixMatch needs PathPrefix matches
                assert f["type"] == "URLRewrite" and {m["path"]["type"] for m in
                                                      rule["matches"]} == {"PathPrefix"}
            for ref in rule["backendRefs"]:
                ports = [p["port"] for p in services[ref["name"]]["spec"]["ports"]]
                assert ref["port"] == PORT and PORT in ports, ref


def test_the_python_gateway_is_gone_and_the_rest_validates(objs: tuple[Obj, ...]) -> None:
    try:
        import kubernetes_validate
    except ImportError:
        _tools_missing("kubernetes-validate")
    for kind in GATEWAY_KINDS:
        assert "gateway" not in by_name(objs, kind), kind
    assert {"session", "totp", "sms", "email", "webauthn"} <= set(by_name(objs, "Deployment"))
    for obj in objs:
        if obj["kind"] != "HTTPRoute":
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    policy = by_name(objs, "NetworkPolicy")["services-from-gateway"]
    assert policy["spec"]["ingress"][0]["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "gateway-system"}}}]
