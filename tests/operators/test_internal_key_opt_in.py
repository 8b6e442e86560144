"""MFA_VENDOR_ACCEPTS_INTERNAL_KEY=true: a deployment whose host backend calls Frontegg's
vendor routes with the internal API key keeps working, both modes."""

from __future__ import annotations

import pytest

from tests.conftest import Ids, Stack
from tests.support.operator_access import internal_key
from tests.support.totp_flows import USERS, enrolled_user


@pytest.fixture
def extra_env() -> dict[str, str]:
    """The opt-in."""
    return {"MFA_VENDOR_ACCEPTS_INTERNAL_KEY": "true"}


async def test_the_internal_key_is_a_vendor_credential_when_allowed(stack: Stack,
                                                                    ids: Ids) -> None:
    await enrolled_user(stack, ids)
    h = {**internal_key(stack), "frontegg-user-id": ids.user, "frontegg-tenant-id": ids.tenant}
    await stack.post(f"{USERS}/disable", {"reason": "lost phone"}, headers=h)
    assert await stack.stores.devices.list_for_user(ids.tenant, ids.user) == []
    await stack.call("PUT", "/resources/configurations/v1/mfa-policy",
                     json={"enforceMFAType": "DontForce"}, headers=h)
    assert (await stack.stores.policies.get(ids.tenant)).enforceMFAType == "DontForce"
