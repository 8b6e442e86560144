"""Frontegg's vendor routes over HTTP through the gateway, both modes: a vendor JWT (bound to
a tenant, or unbound as this module allows), the subject in headers, audited with the actor,
refused without the credential, for another tenant's user and for a token whose tenant claim
is not a tenant id."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Ids, Stack
from tests.support.operator_access import key, vendor_token
from tests.support.records import audit_rows, events
from tests.support.totp_flows import USERS, enrolled_user, lock_totp

VENDOR_ONLY = "/resources/vendor-only/users/v1"


@pytest.fixture
def extra_env() -> dict[str, str]:
    """Vendor tokens: a `scope` claim holding `vendor`; unbound ones allowed."""
    return {"MFA_VENDOR_CLAIM": "scope", "MFA_VENDOR_UNBOUND": "true"}


async def test_mfa_disable_from_a_vendor_clears_the_users_mfa_then_says_not_enrolled(
        stack: Stack, ids: Ids) -> None:
    await enrolled_user(stack, ids, remembered=True)
    await stack.post(f"{USERS}/disable", {"reason": "lost phone"}, headers=key(stack, ids))
    assert await stack.stores.devices.list_for_user(ids.tenant, ids.user) == []
    [row] = await audit_rows(stack, ids, "reset")
    assert json.loads(row["detail"]) == {"actor": "ops-bot", "reason": "lost phone",
                                         "devicesRemoved": 1,
                                         "removed": {"totp": 1, "recovery": 1}}
    assert (await events(stack, ids))[-2:] == ["mfa.reset", "mfa.remembered_devices.revoked"]
    res = await stack.post(f"{USERS}/disable", data=b"", headers=key(stack, ids),
                           expected_status=400)
    assert res == {"errors": ["MFA is not enrolled"], "errorCode": "ER-01097"}


async def test_mfa_disable_without_a_tenant_header_clears_every_tenant(stack: Stack,
                                                                       ids: Ids) -> None:
    elsewhere = Ids(user=ids.user)
    await enrolled_user(stack, ids)
    await enrolled_user(stack, elsewhere)
    await stack.post(f"{USERS}/disable", {}, headers=key(stack, ids, tenant=False))
    for who in (ids, elsewhere):
        assert await stack.stores.devices.list_for_user(who.tenant, who.user) == []


async def test_mfa_disable_needs_the_user_header(stack: Stack, ids: Ids) -> None:
    res = await stack.post(f"{USERS}/disable", {}, headers=key(stack), expected_status=400)
    assert res["errorCode"] == "ER-MFA-VALIDATION"


async def test_the_user_bearer_form_of_mfa_disable_still_needs_a_code(stack: Stack,
                                                                      ids: Ids) -> None:
    await enrolled_user(stack, ids)
    res = await stack.post(f"{USERS}/disable", {}, token=stack.user_token(ids),
                           expected_status=400)
    assert res["errorCode"] == "ER-MFA-VALIDATION"
    assert len(await stack.stores.devices.list_for_user(ids.tenant, ids.user)) == 1


async def test_a_vendor_removes_one_authenticator_without_a_code(stack: Stack,
                                                                 ids: Ids) -> None:
    await enrolled_user(stack, ids)
    [device] = await stack.stores.devices.list_for_user(ids.tenant, ids.user)
    path = f"{USERS}/authenticator/{device.id}/disable/verify"
    other = ids.other()
    res = await stack.post(path, {}, headers=key(stack, other), expected_status=404)
    assert res["errorCode"] == "ER-MFA-DEVICE-NOT-FOUND"
    await stack.post(path, {}, headers={"Authorization": f"Bearer {vendor_token(stack)}",
                                        "frontegg-user-id": ids.user})
    assert await stack.stores.devices.list_for_user(ids.tenant, ids.user) == []
    [row] = await audit_rows(stack, ids, "disable")
    assert json.loads(row["detail"])["actor"] == "ops-bot"
    assert (await events(stack, ids))[-1] == "mfa.factor.removed"
    await stack.post(path, {}, headers=key(stack, ids), expected_status=404)


async def test_vendor_only_unenroll_clears_every_tenant(stack: Stack, ids: Ids) -> None:
    elsewhere = Ids(user=ids.user)
    await enrolled_user(stack, ids)
    await enrolled_user(stack, elsewhere)
    await stack.post(f"{VENDOR_ONLY}/{ids.user}/mfa/unenroll", headers=key(stack))
    for who in (ids, elsewhere):
        assert await stack.stores.devices.list_for_user(who.tenant, who.user) == []
        assert "mfa.reset" in await events(stack, who)
    await stack.post(f"{VENDOR_ONLY}/{ids.user}/mfa/unenroll", headers=key(stack))


async def test_unlock_lifts_every_lockout_of_the_user(stack: Stack, ids: Ids) -> None:
    seed = await enrolled_user(stack, ids)
    await stack.post("/resources/configurations/v1/lockout-policy",
                     {"enabled": True, "maxAttempts": 3},
                     headers={**key(stack), "frontegg-tenant-id": ids.tenant},
                     expected_status=201)
    await lock_totp(stack, ids, seed)
    state = await stack.stores.lockout.state(ids.tenant, ids.user, "totp",
                                             now=stack.clock.time())
    assert state.locked
    await stack.post(f"/resources/users/v1/{ids.user}/unlock", {"reason": "ticket 42"},
                     headers=key(stack))
    state = await stack.stores.lockout.state(ids.tenant, ids.user, "totp",
                                             now=stack.clock.time())
    assert not state.locked and state.failures == 0
    [row] = await audit_rows(stack, ids, "unlock")
    assert json.loads(row["detail"]) == {"actor": "ops-bot", "reason": "ticket 42",
                                         "wasLocked": ["totp"]}


ROUTES: list[tuple[str, str]] = [
    ("POST", f"{USERS}/disable"), ("POST", f"{USERS}/authenticator/d-1/disable/verify"),
    ("POST", f"{VENDOR_ONLY}/u-1/mfa/unenroll"), ("POST", "/resources/users/v1/u-1/unlock")]


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_vendor_routes_refuse_without_the_credential(stack: Stack, ids: Ids,
                                                           method: str, path: str) -> None:
    await enrolled_user(stack, ids)
    res = await stack.call(method, path, json={}, headers={"frontegg-user-id": ids.user},
                           expected_status=401)
    assert res["errorCode"] in ("ER-MFA-UNAUTHORIZED",)
    wrong = {"Authorization": "Bearer not-the-key", "frontegg-user-id": ids.user}
    await stack.call(method, path, json={}, headers=wrong, expected_status=401)
    assert len(await stack.stores.devices.list_for_user(ids.tenant, ids.user)) == 1


@pytest.mark.parametrize("path", [f"{VENDOR_ONLY}/u-1/mfa/unenroll",
                                  "/resources/users/v1/u-1/unlock"])
async def test_a_users_own_token_is_not_a_vendor_credential(stack: Stack, ids: Ids,
                                                            path: str) -> None:
    res = await stack.post(path, {}, token=stack.user_token(ids, roles=["Admin"]),
                           expected_status=403)
    assert res["errorCode"] == "ER-MFA-NOT-VENDOR"


async def test_a_tenant_bound_vendor_token_cannot_touch_another_tenants_user(
        stack: Stack, ids: Ids) -> None:
    await enrolled_user(stack, ids)
    bound = vendor_token(stack, tenant="t-someone-else")
    h: dict[str, Any] = {"Authorization": f"Bearer {bound}", "frontegg-user-id": ids.user}
    res = await stack.post(f"{USERS}/disable", {}, headers={**h, "frontegg-tenant-id":
                                                            ids.tenant}, expected_status=403)
    assert res["errorCode"] == "ER-MFA-FOREIGN-TENANT"
    res = await stack.post(f"{USERS}/disable", {}, headers=h, expected_status=400)
    assert res["errorCode"] == "ER-01097", "its own tenant has no such user"
    await stack.post(f"{VENDOR_ONLY}/{ids.user}/mfa/unenroll", headers=h)
    assert len(await stack.stores.devices.list_for_user(ids.tenant, ids.user)) == 1
    assert await audit_rows(stack, ids, "reset") == []


@pytest.mark.parametrize("claim", [["t-1"], {"id": "t-1"}, 7, None])
async def test_a_vendor_token_whose_tenant_claim_is_not_a_tenant_id_is_refused(
        stack: Stack, ids: Ids, claim: Any) -> None:
    """The review's L4: such a token was unbound (every tenant), whatever it meant."""
    await enrolled_user(stack, ids)
    token, _ = stack.stores.tokens.issue(user_id="ops-bot", tenant_id="", email="",
                                         amr=["pwd"], mfa=False,
                                         extra={"scope": "api vendor", "tenantId": claim})
    h = {"Authorization": f"Bearer {token}", "frontegg-user-id": ids.user,
         "frontegg-tenant-id": ids.tenant}
    for path in (f"{USERS}/disable", f"{VENDOR_ONLY}/{ids.user}/mfa/unenroll"):
        res = await stack.post(path, {}, headers=h, expected_status=403)
        assert res["errorCode"] == "ER-MFA-VENDOR-TENANT"
    assert len(await stack.stores.devices.list_for_user(ids.tenant, ids.user)) == 1


@pytest.mark.parametrize(("method", "path"), [
    *ROUTES, ("POST", "/resources/configurations/v1/lockout-policy"),
    ("POST", "/resources/configurations/v1/mfa"),
    ("PUT", "/resources/configurations/v1/mfa-policy"),
    ("POST", "/resources/configurations/v1/mfa/strategies")])
async def test_malformed_or_wrongly_typed_bodies_are_a_400_and_change_nothing(
        stack: Stack, ids: Ids, method: str, path: str) -> None:
    await enrolled_user(stack, ids)
    h = {**key(stack, ids), "Content-Type": "application/json"}
    res = await stack.call(method, path, data=b'{"reason": ', headers=h, expected_status=400)
    assert res["errorCode"] == "ER-MFA-MALFORMED-JSON"
    res = await stack.call(method, path, json={"reason": 7, "enabled": "x", "strategy": 1,
                                               "sms": [], "enforceMFAType": 3},
                           headers=h, expected_status=400)
    assert res["errorCode"] == "ER-MFA-VALIDATION"
    assert len(await stack.stores.devices.list_for_user(ids.tenant, ids.user)) == 1
