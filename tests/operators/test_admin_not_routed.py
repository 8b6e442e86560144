"""The admin API and the support console are internal: without MFA_EXPOSE_INTERNAL_API the
gateway neither routes nor documents them (the operators service still serves them to
in-cluster callers and port-forwards), both modes."""

from __future__ import annotations

import pytest

from tests.conftest import Stack


@pytest.fixture
def extra_env() -> dict[str, str]:
    """The deployed default: the internal API is not routed."""
    return {"MFA_EXPOSE_INTERNAL_API": "false"}


async def test_the_gateway_does_not_route_or_document_the_admin_api(stack: Stack) -> None:
    key = {"Authorization": f"Bearer {stack.settings.internal_api_key}"}
    async with stack.http.get(f"{stack.url}/internal/v1/admin/audit", headers=key) as r:
        assert r.status == 404 and (await r.json())["errorCode"] == "ER-MFA-ROUTE"
    for console in ("/internal/console/", "/frontegg/identity/internal/console/signin"):
        async with stack.http.get(f"{stack.url}{console}", allow_redirects=False) as r:
            assert r.status == 404 and (await r.json())["errorCode"] == "ER-MFA-ROUTE"
    async with stack.http.get(f"{stack.url}/openapi.json") as r:
        paths = (await r.json())["paths"]
    assert not [p for p in paths if p.startswith("/internal")]
    assert "/resources/vendor-only/users/v1/{userId}/mfa/unenroll" in paths
    if stack.mode == "split":  # in-cluster callers reach the operators service itself
        async with stack.http.get(f"{stack.operators_url}/internal/v1/admin/audit?limit=1",
                                  headers=key) as r:
            assert r.status == 200
        async with stack.http.get(f"{stack.operators_url}/internal/console/signin") as r:
            assert r.status == 200 and "Sign in" in await r.text()
