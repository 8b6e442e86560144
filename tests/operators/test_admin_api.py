"""The native admin API (/internal/v1/admin, internal API key) through the gateway, both
modes: factors, reset, unlock, the audit trail with filters and cursors, its JSON-lines
export, a tenant's adoption."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Ids, Stack
from tests.support.records import audit_rows, events
from tests.support.totp_flows import LOCK_ENV, enrolled_user, lock_totp

ADMIN = "/internal/v1/admin"


@pytest.fixture
def extra_env() -> dict[str, str]:
    """Lock a factor at 3 failures."""
    return LOCK_ENV


def key(stack: Stack) -> dict[str, str]:
    """The internal API key and an operator's name."""
    return {"Authorization": f"Bearer {stack.settings.internal_api_key}",
            "X-MFA-Actor": "support-ann"}


def user(ids: Ids) -> str:
    """The admin path of a user."""
    return f"{ADMIN}/tenants/{ids.tenant}/users/{ids.user}"


async def admin(stack: Stack, method: str, path: str, **kw: Any) -> Any:
    """A call to the admin API with the key (internal paths have no mount prefix)."""
    return await stack.call(method, path, headers=key(stack), prefix="", **kw)


async def test_list_delete_reset_and_unlock_a_users_factors(stack: Stack, ids: Ids) -> None:
    seed = await enrolled_user(stack, ids)
    await lock_totp(stack, ids, seed)
    listed = await admin(stack, "GET", f"{user(ids)}/factors")
    [factor] = listed["factors"]
    assert (factor["kind"], factor["locked"]) == ("totp", True)
    assert await admin(stack, "POST", f"{user(ids)}/unlock", json={"factor": "totp",
                                                                    "reason": "call"}) == {
        "wasLocked": ["totp"]}
    await admin(stack, "DELETE", f"{user(ids)}/factors/{factor['id']}",
                json={"reason": "lost phone"})
    assert (await admin(stack, "GET", f"{user(ids)}/factors"))["factors"] == []
    await admin(stack, "DELETE", f"{user(ids)}/factors/{factor['id']}", expected_status=404)
    # The factor is gone; the recovery code issued with it is a credential too: a reset
    # removes it, and only then is there nothing left.
    assert await admin(stack, "POST", f"{user(ids)}/reset", json={}) == {
        "removed": 0, "credentials": {"recovery": 1}}
    res = await admin(stack, "POST", f"{user(ids)}/reset", json={}, expected_status=400)
    assert res["errorCode"] == "ER-01097"
    [row] = await audit_rows(stack, ids, "disable")
    assert json.loads(row["detail"]) == {"actor": "support-ann", "reason": "lost phone"}
    assert (await events(stack, ids))[-2:] == ["mfa.factor.removed", "mfa.reset"]


async def test_reset_through_the_admin_api(stack: Stack, ids: Ids) -> None:
    await enrolled_user(stack, ids)
    assert await admin(stack, "POST", f"{user(ids)}/reset", data=b"") == {
        "removed": 1, "credentials": {"totp": 1, "recovery": 1}}
    assert "mfa.reset" in await events(stack, ids)


async def test_the_admin_api_needs_the_internal_key(stack: Stack, ids: Ids) -> None:
    await enrolled_user(stack, ids)
    for method, path in (("GET", f"{user(ids)}/factors"), ("POST", f"{user(ids)}/reset"),
                         ("GET", f"{ADMIN}/audit"), ("GET", f"{ADMIN}/audit/export"),
                         ("GET", f"{ADMIN}/tenants/{ids.tenant}/adoption")):
        res = await stack.call(method, path, json={}, prefix="", expected_status=401,
                               token=stack.user_token(ids, roles=["Admin"]))
        assert res["errorCode"] == "ER-MFA-INTERNAL-KEY"
    assert len(await stack.stores.devices.list_for_user(ids.tenant, ids.user)) == 1


async def test_bad_input_is_a_400(stack: Stack, ids: Ids) -> None:
    for path in (f"{ADMIN}/audit?limit=0", f"{ADMIN}/audit?from=yesterday",
                 f"{ADMIN}/audit?cursor=bm9wZQ", f"{ADMIN}/audit?from=2026-01-01T00:00:00",
                 f"{ADMIN}/tenants/{'t' * 201}/adoption"):
        res = await admin(stack, "GET", path, expected_status=400)
        assert res["errorCode"] == "ER-MFA-VALIDATION", path
    res = await admin(stack, "POST", f"{user(ids)}/unlock", json={"factor": "voice"},
                      expected_status=400)
    assert res["errorCode"] == "ER-MFA-VALIDATION"


async def test_audit_pages_with_a_cursor_and_filters(stack: Stack, ids: Ids) -> None:
    await enrolled_user(stack, ids)
    for _ in range(5):
        stack.clock.advance(1)
        await admin(stack, "POST", f"{user(ids)}/unlock", json={})
    seen: list[str] = []
    cursor = None
    while True:
        q = f"&cursor={cursor}" if cursor else ""
        page = await admin(stack, "GET", f"{ADMIN}/audit?tenantId={ids.tenant}&userId="
                           f"{ids.user}&action=unlock&limit=2{q}")
        seen += [e["id"] for e in page["events"]]
        assert all(e["action"] == "unlock" and e["userId"] == ids.user
                   for e in page["events"])
        cursor = page["nextCursor"]
        if cursor is None:
            break
    rows = await audit_rows(stack, ids, "unlock")
    assert len(seen) == len(set(seen)) == len(rows) == 5
    ats = [e for e in (await admin(stack, "GET", f"{ADMIN}/audit?userId={ids.user}&action="
                                   f"unlock&from={stack.clock.time() - 2}"))["events"]]
    assert len(ats) == 3, "from is inclusive: the last three unlocks"


async def test_export_is_json_lines_of_every_match(stack: Stack, ids: Ids) -> None:
    await enrolled_user(stack, ids)
    await admin(stack, "POST", f"{user(ids)}/reset", json={"reason": "x"})
    async with stack.http.get(f"{stack.url}{ADMIN}/audit/export?tenantId={ids.tenant}",
                              headers=key(stack)) as r:
        assert r.status == 200 and r.content_type == "application/x-ndjson"
        lines = (await r.text()).splitlines()
    rows = [json.loads(line) for line in lines]
    assert len(rows) == len(await stack.stores.audit.for_user(ids.tenant, ids.user))
    assert {"enroll", "reset"} <= {row["action"] for row in rows}
    assert all(row["tenantId"] == ids.tenant for row in rows)


async def test_adoption_counts_enrolled_users_lockouts_and_codes(stack: Stack, ids: Ids
                                                                ) -> None:
    seed = await enrolled_user(stack, ids)
    await stack.start_session(ids.other())
    await lock_totp(stack, ids, seed)
    await stack.set_policy(ids, strategies=["AuthenticatorApp", "SMS"])
    await stack.post("/resources/users/v1/mfa/sms/enroll", {"phoneNumber": "+447911123456"},
                     token=stack.user_token(ids))
    got = await admin(stack, "GET", f"{ADMIN}/tenants/{ids.tenant}/adoption")
    assert (got["usersKnown"], got["usersEnrolled"], got["enrolledByFactor"],
            got["lockouts"]) == (2, 1, {"totp": 1}, 1)
    assert got["codesSent"] == {"sms": 1, "email": 0}
    later = await admin(stack, "GET", f"{ADMIN}/tenants/{ids.tenant}/adoption?from="
                        f"{stack.clock.time() + 1}&to={stack.clock.time() + 2}")
    assert later["lockouts"] == 0 and later["usersEnrolled"] == 1
