"""The admin API and the support console are internal: without MFA_EXPOSE_INTERNAL_API the
gateway neither routes nor documents them (the operators service still serves them to
in-cluster callers and port-forwards), both modes. With the deployed defaults the internal API
key is no vendor credential on the publicly routed paths (the review's M5), and a vendor token
that names no tenant is refused (L4)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Ids, Stack
from tests.support.operator_access import internal_key
from tests.support.totp_flows import USERS, enrolled_user

PUBLIC_VENDOR_CALLS: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/resources/migrations/v1/local",
     {"tenantId": "{t}", "userId": "{u}", "email": "x@example.test",
      "authenticatorAppMfaSecret": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"}),
    ("PUT", "/resources/configurations/v1/mfa-policy", {"enforceMFAType": "DontForce"}),
    ("POST", "/resources/vendor-only/users/v1/{u}/mfa/unenroll", {}),
    ("POST", "/resources/users/v1/{u}/unlock", {}),
    ("POST", f"{USERS}/disable", {}),
]


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


@pytest.mark.parametrize(("method", "path", "body"), PUBLIC_VENDOR_CALLS)
async def test_the_internal_key_is_refused_on_publicly_routed_paths(
        stack: Stack, ids: Ids, method: str, path: str, body: dict[str, Any]) -> None:
    seed = await enrolled_user(stack, ids)
    fill = {k: v.replace("{t}", ids.tenant).replace("{u}", ids.user) if isinstance(v, str)
            else v for k, v in body.items()}
    res = await stack.call(method, path.replace("{u}", ids.user), json=fill,
                           headers={**internal_key(stack), "frontegg-user-id": ids.user},
                           expected_status=403)
    assert res["errorCode"] == "ER-MFA-INTERNAL-KEY-PUBLIC"
    [device] = await stack.stores.devices.list_for_user(ids.tenant, ids.user)
    assert device.kind == "totp" and seed
    assert (await stack.stores.policies.get(ids.tenant)).enforceMFAType == "Force"
    if stack.mode == "split":  # the host's backend still uses it on the internal API
        url = (f"{stack.operators_url}/internal/v1/admin/tenants/{ids.tenant}/users/"
               f"{ids.user}/reset")
        async with stack.http.post(url, json={}, headers=internal_key(stack)) as r:
            assert r.status == 200 and (await r.json())["removed"] == 1


async def test_a_vendor_token_naming_no_tenant_is_refused_by_default(stack: Stack,
                                                                     ids: Ids) -> None:
    await enrolled_user(stack, ids)
    h = {"Authorization": f"Bearer {stack.vendor_token()}", "frontegg-user-id": ids.user,
         "frontegg-tenant-id": ids.tenant}
    res = await stack.post(f"{USERS}/disable", {}, headers=h, expected_status=403)
    assert res["errorCode"] == "ER-MFA-VENDOR-TENANT"
    await stack.post(f"{USERS}/disable", {}, headers={
        **h, "Authorization": f"Bearer {stack.vendor_token(ids.tenant)}"})
    assert await stack.stores.devices.list_for_user(ids.tenant, ids.user) == []
