"""The route table (gateway/routes.py) as Gateway API HTTPRoutes, for clusters whose Gateway
does the routing instead of the Python gateway (deploy/k8s/components/gateway-api).

One HTTPRoute per service: a rule whose PathPrefix matches are the service's prefixes as they
are, then one rule per prefix under the mount prefix that strips it (URLRewrite
ReplacePrefixMatch), as the Python gateway does. Gateway API's PathPrefix matches whole path
segments and the longest matching path wins across routes, which is `routes.match`'s rule.
`/internal` is never routed. A `{}` (one path segment, e.g. a user id) cannot be written as a
PathPrefix and a rewrite needs one, so such a prefix is matched by its static part before the
`{}`: longer prefixes (other routes) still win, and a path only that rule catches gets the
service's own 404 envelope instead of the gateway's. Rendered into the component by

    python -m gateway.httproute > deploy/k8s/components/gateway-api/httproutes.yaml

(tests/deploy/test_gateway_api.py fails when that file is not what this renders)."""

from __future__ import annotations

import sys
from typing import Any

from gateway.routes import ROUTES
from shared.settings import SERVICES

API_VERSION = "gateway.networking.k8s.io/v1"
PORT = 8080  # every service's Service port (deploy/k8s/base/<service>.yaml)
# Where the routes attach: a Gateway the platform runs; an overlay patches these.
PARENT = {"name": "public", "namespace": "gateway-system", "sectionName": "https"}
HOSTNAME = "mfa.example.com"
MOUNT_PREFIX = "/frontegg/identity"  # deploy/k8s/base/config.env MFA_MOUNT_PREFIX


def _prefix(value: str) -> dict[str, Any]:
    return {"path": {"type": "PathPrefix", "value": value}}


def _backend(service: str) -> list[dict[str, Any]]:
    return [{"name": service, "port": PORT}]


def static_prefix(prefix: str) -> str:
    """A route table prefix as a PathPrefix: up to the first `{}` segment."""
    return prefix.split("{}", 1)[0].rstrip("/") or "/"


def http_route(service: str, mount_prefix: str = MOUNT_PREFIX) -> dict[str, Any]:
    """The HTTPRoute of one service (its prefixes from the route table)."""
    prefixes = list(dict.fromkeys(static_prefix(p) for p, s in ROUTES if s == service))
    rules: list[dict[str, Any]] = [
        {"matches": [_prefix(p) for p in prefixes], "backendRefs": _backend(service)}]
    if mount_prefix:
        rules += [{"matches": [_prefix(mount_prefix + p)],
                   "filters": [{"type": "URLRewrite", "urlRewrite": {"path": {
                       "type": "ReplacePrefixMatch", "replacePrefixMatch": p}}}],
                   "backendRefs": _backend(service)} for p in prefixes]
    return {
        "apiVersion": API_VERSION, "kind": "HTTPRoute",
        "metadata": {"name": f"mfa-{service}", "labels": {"app": service}},
        "spec": {"parentRefs": [dict(PARENT)], "hostnames": [HOSTNAME], "rules": rules},
    }


def http_routes(mount_prefix: str = MOUNT_PREFIX) -> list[dict[str, Any]]:
    """Every service's HTTPRoute, in the order of shared.settings.SERVICES."""
    return [http_route(s, mount_prefix) for s in SERVICES if any(v == s for _, v in ROUTES)]


HEADER = """\
# Generated from gateway/routes.py by `python -m gateway.httproute`; do not edit by hand
# (tests/deploy/test_gateway_api.py checks it is current). One HTTPRoute per service: its path
# prefixes as they are, and under /frontegg/identity with that prefix stripped. /internal is
# never routed. parentRefs and hostnames are placeholders an overlay patches.
"""


def render() -> str:
    """The component's httproutes.yaml."""
    import yaml  # a development dependency: only this renderer needs it

    return HEADER + yaml.safe_dump_all(http_routes(), sort_keys=False, width=100)


if __name__ == "__main__":
    sys.stdout.write(render())
