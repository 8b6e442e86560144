"""Frontegg's real client (@frontegg/rest-api) drives the routes of this feature it has: the
lockout policy of the admin portal, and mfa/disable and the authenticator's disable sent with
a vendor credential, both modes."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Ids, Stack
from tests.contract.frontegg_client import FronteggApiError
from tests.support.totp_flows import enrolled_user


async def test_admin_portal_lockout_policy_round_trip(stack: Stack, ids: Ids, fc: Any) -> None:
    admin = stack.user_token(ids, roles=["Admin"])
    with pytest.raises(FronteggApiError) as missing:
        await fc.call("auth.getLockoutPolicy", access_token=admin)
    assert missing.value.status_code == 404
    vendor = await fc.call("auth.getVendorLockoutPolicy", access_token=admin)
    assert vendor["maxAttempts"] == stack.settings.lockout_max_failures
    made = await fc.call("auth.saveLockoutPolicy", {"enabled": True, "maxAttempts": 5},
                         access_token=admin)
    assert made["maxAttempts"] == 5
    changed = await fc.call("auth.saveLockoutPolicy",
                            {"id": made["id"], "enabled": False, "maxAttempts": 3},
                            access_token=admin)
    assert (changed["id"], changed["enabled"], changed["maxAttempts"]) == (made["id"], False, 3)
    assert await fc.call("auth.getLockoutPolicy", access_token=admin) == changed
    with pytest.raises(FronteggApiError) as refused:
        await fc.call("auth.saveLockoutPolicy", {"enabled": True, "maxAttempts": 9},
                      access_token=stack.user_token(ids))
    assert (refused.value.status_code, refused.value.error_code) == (403, "ER-MFA-NOT-ADMIN")


async def test_disable_mfa_with_a_vendor_credential(stack: Stack, ids: Ids, fc: Any) -> None:
    await enrolled_user(stack, ids)
    key = stack.vendor_token(ids.tenant)
    subject = {"frontegg-user-id": ids.user, "frontegg-tenant-id": ids.tenant}
    await fc.call("auth.disableMfa", {}, access_token=key, headers=subject)
    assert await stack.stores.devices.list_for_user(ids.tenant, ids.user) == []
    with pytest.raises(FronteggApiError) as again:
        await fc.call("auth.disableMfa", {}, access_token=key, headers=subject)
    assert (again.value.status_code, again.value.error_code) == (400, "ER-01097")
    assert again.value.errors == ["MFA is not enrolled"]


async def test_disable_an_authenticator_with_a_vendor_credential(stack: Stack, ids: Ids,
                                                                 fc: Any) -> None:
    await enrolled_user(stack, ids)
    [device] = await stack.stores.devices.list_for_user(ids.tenant, ids.user)
    await fc.call("auth.disableMFAAuthenticatorApp", device.id, {},
                  access_token=stack.vendor_token(ids.tenant),
                  headers={"frontegg-user-id": ids.user})
    assert await stack.stores.devices.list_for_user(ids.tenant, ids.user) == []
