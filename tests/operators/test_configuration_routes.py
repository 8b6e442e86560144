"""Frontegg's configuration routes (lockout policy, mfa-policy PUT, strategies POST,
configurations/v1/mfa) over HTTP, both modes: per tenant over the environment over the
deployment, audited, and what they change (a tenant's lockout threshold, its strategies)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from shared.mfa.otpauth import enrollment
from tests.conftest import Ids, Stack
from tests.support.codes import wrong_code
from tests.support.records import events
from tests.support.totp_flows import AUTH, code, enrolled_user, lock_totp, login

CONFIG = "/resources/configurations/v1"


@pytest.fixture
def extra_env() -> dict[str, str]:
    """The environment-wide policies need a vendor token bound to no tenant; tenants may send
    code mails from acme.test only."""
    return {"MFA_VENDOR_UNBOUND": "true", "MFA_EMAIL_SENDER_DOMAINS": "acme.test"}


def vendor(stack: Stack, tenant: str | None = None) -> dict[str, str]:
    """A vendor token, for a tenant (bound to it) or (None) the environment (unbound)."""
    h = {"Authorization": f"Bearer {stack.vendor_token(tenant or '')}"}
    return {**h, "frontegg-tenant-id": tenant} if tenant else h


async def lockout_policy(stack: Stack, tenant: str, enabled: bool, max_attempts: int,
                         **kw: Any) -> Any:
    """POST a tenant's lockout policy with a vendor token."""
    return await stack.post(f"{CONFIG}/lockout-policy",
                            {"enabled": enabled, "maxAttempts": max_attempts},
                            headers=vendor(stack, tenant), **kw)


async def config_audit(stack: Stack, ids: Ids, action: str) -> list[dict[str, Any]]:
    """The tenant's configuration audit rows of one action, oldest first: their details."""
    rows = await stack.stores.db.fetch(
        "SELECT detail FROM audit_events WHERE tenant_id = $1 AND factor = 'config' AND "
        "action = $2 ORDER BY at", ids.tenant, action)
    return [json.loads(r["detail"]) for r in rows]


async def test_lockout_policy_create_conflict_update_and_read(stack: Stack, ids: Ids) -> None:
    h = vendor(stack, ids.tenant)
    res = await stack.get(f"{CONFIG}/lockout-policy", headers=h, expected_status=404)
    assert res["errors"] == ["Lockout policy is not defined"]
    made = await lockout_policy(stack, ids.tenant, True, 5, expected_status=201)
    assert made["enabled"] is True and made["maxAttempts"] == 5 and made["id"]
    await lockout_policy(stack, ids.tenant, True, 5, expected_status=409)
    changed = await stack.call("PATCH", f"{CONFIG}/lockout-policy",
                               json={"id": made["id"], "enabled": False, "maxAttempts": 3},
                               headers=h)
    assert (changed["id"], changed["enabled"], changed["maxAttempts"]) == (made["id"], False, 3)
    assert await stack.get(f"{CONFIG}/lockout-policy", headers=h) == changed
    rows = [r for r in await stack.stores.audit.for_user(ids.tenant, "")
            if r["action"] == "lockout-policy"]
    assert [json.loads(r["detail"])["actor"] for r in rows] == ["ops-bot", "ops-bot"]


async def test_lockout_policy_refuses_bad_bodies_and_non_admins(stack: Stack, ids: Ids) -> None:
    h = vendor(stack, ids.tenant)
    for body in ({"maxAttempts": 3}, {"enabled": "yes", "maxAttempts": 3},
                 {"enabled": True, "maxAttempts": 0}, {"enabled": True, "maxAttempts": "3"}):
        res = await stack.post(f"{CONFIG}/lockout-policy", body, headers=h,
                               expected_status=400)
        assert res["errorCode"] == "ER-MFA-VALIDATION"
    await stack.call("PATCH", f"{CONFIG}/lockout-policy", json={"enabled": True,
                                                                 "maxAttempts": 3},
                     headers=h, expected_status=404)
    res = await stack.post(f"{CONFIG}/lockout-policy", {"enabled": True, "maxAttempts": 3},
                           token=stack.user_token(ids), expected_status=403)
    assert res["errorCode"] == "ER-MFA-NOT-ADMIN"
    await stack.get(f"{CONFIG}/lockout-policy", headers=h, expected_status=404)


async def test_a_tenants_lockout_policy_locks_a_factor_at_its_max_attempts(stack: Stack,
                                                                           ids: Ids) -> None:
    seed = await enrolled_user(stack, ids)
    await lockout_policy(stack, ids.tenant, True, 2, expected_status=201)
    await lock_totp(stack, ids, seed, times=2)
    res = await stack.post(f"{AUTH}/verify", {"mfaToken": await login(stack, ids),
                                              "value": code(stack, seed)},
                           expected_status=429)
    assert res["errorCode"] == "ER-MFA-LOCKED"
    assert (await events(stack, ids))[-1] == "mfa.factor.locked"


async def test_parallel_attempts_cannot_pass_a_tenants_lockout(stack: Stack, ids: Ids) -> None:
    seed = await enrolled_user(stack, ids)
    await lockout_policy(stack, ids.tenant, True, 3, expected_status=201)
    tokens = [await login(stack, ids) for _ in range(10)]

    async def attempt(token: str) -> int:
        async with stack.http.post(f"{stack.url}/resources/auth/v1/user/mfa/verify",
                                   json={"mfaToken": token,
                                         "value": wrong_code(code(stack, seed))}) as r:
            return r.status

    statuses = await asyncio.gather(*(attempt(t) for t in tokens))
    assert sorted(statuses) == [400] * 3 + [429] * 7
    compared = [r for r in await stack.stores.audit.for_user(ids.tenant, ids.user)
                if r["action"] in ("failure", "lockout")]
    assert len(compared) == 3


async def test_a_disabled_or_laxer_lockout_policy_keeps_the_deployments(stack: Stack,
                                                                        ids: Ids) -> None:
    seed = await enrolled_user(stack, ids)
    await lockout_policy(stack, ids.tenant, False, 1, expected_status=201)
    await lock_totp(stack, ids, seed, times=2)
    state = await stack.stores.lockout.state(ids.tenant, ids.user, "totp",
                                             now=stack.clock.time())
    assert state.failures == 2 and not state.locked


async def test_put_mfa_policy_upserts_keeping_omitted_fields(stack: Stack, ids: Ids) -> None:
    h = vendor(stack, ids.tenant)
    first = await stack.call("PUT", f"{CONFIG}/mfa-policy",
                             json={"allowRememberMyDevice": True,
                                   "mfaDeviceExpiration": 86400}, headers=h)
    assert first["allowRememberMyDevice"] is True and first["id"] != "default"
    stack.clock.advance(1)  # audit rows are ordered by time
    second = await stack.call("PUT", f"{CONFIG}/mfa-policy",
                              json={"enforceMFAType": "DontForce"}, headers=h)
    assert (second["enforceMFAType"], second["allowRememberMyDevice"],
            second["mfaDeviceExpiration"], second["id"]) == ("DontForce", True, 86400,
                                                             first["id"])
    res = await stack.call("PUT", f"{CONFIG}/mfa-policy", json={"enforceMFAType": "Always"},
                           headers=h, expected_status=400)
    assert res["errorCode"] == "ER-MFA-VALIDATION"
    assert await config_audit(stack, ids, "mfa-policy") == [
        {"actor": "ops-bot", "changes": {"allowRememberMyDevice": True,
                                        "mfaDeviceExpiration": 86400}},
        {"actor": "ops-bot", "changes": {"enforceMFAType": "DontForce"}}]


async def test_strategies_post_switches_one_strategy_for_the_login(stack: Stack,
                                                                   ids: Ids) -> None:
    h = vendor(stack, ids.tenant)
    await stack.post(f"{CONFIG}/mfa/strategies", {"strategy": "SMS", "isActive": True},
                     headers=h, expected_status=201)
    stack.clock.advance(1)  # audit rows are ordered by time
    await stack.post(f"{CONFIG}/mfa/strategies",
                     {"strategy": "AuthenticatorApp", "isActive": False}, headers=h,
                     expected_status=201)
    listed = await stack.get(f"{CONFIG}/mfa/strategies", token=stack.user_token(ids))
    active = {s["strategy"] for s in listed["strategies"] if s["isActive"]}
    assert "SMS" in active and "AuthenticatorApp" not in active
    started = await stack.start_session(ids)
    assert "SMS" in started["mfaStrategies"] and "qrCode" not in started
    await stack.post(f"{CONFIG}/mfa/strategies", {"strategy": "Voice", "isActive": True},
                     headers=h, expected_status=400)
    assert [d["changes"] for d in await config_audit(stack, ids, "mfa-strategy")] == [
        {"strategy": "SMS", "isActive": True}, {"strategy": "AuthenticatorApp",
                                                "isActive": False}]


async def test_mfa_configuration_per_tenant_over_the_deployment(stack: Stack,
                                                                ids: Ids) -> None:
    h = vendor(stack, ids.tenant)
    before = await stack.get(f"{CONFIG}/mfa", headers=h)
    assert before["authenticationApp"]["serviceName"] == stack.settings.issuer_name
    assert before["sms"]["tokenLifetimeSeconds"] == 300
    saved = await stack.post(f"{CONFIG}/mfa", {"authenticationApp": {
        "active": True, "serviceName": "Acme"}, "email": {
        "active": True, "tokenLifetimeSeconds": 600, "sender": "no-reply@acme.test"}},
        headers=h, expected_status=201)
    assert saved["authenticationApp"] == {"active": True, "serviceName": "Acme"}
    assert saved["email"] == {"active": True, "tokenLifetimeSeconds": 600,
                              "sender": "no-reply@acme.test"}
    assert saved["sms"] == before["sms"]
    other = await stack.get(f"{CONFIG}/mfa", headers=vendor(stack, ids.other().tenant + "x"))
    assert other["authenticationApp"]["serviceName"] == stack.settings.issuer_name
    for bad in ({"sms": {"active": True, "tokenLifetimeSeconds": 60}},
                {"authenticationApp": {"active": True, "serviceName": "Acme:Evil"}},
                {"email": {"active": True, "tokenLifetimeSeconds": 300, "sender": "nobody"}},
                {"email": {"active": True, "sender": "a@b.test"}}):
        res = await stack.post(f"{CONFIG}/mfa", bad, headers=h, expected_status=400)
        assert res["errorCode"] == "ER-MFA-VALIDATION", bad
    assert (await stack.get(f"{CONFIG}/mfa", headers=h)) == saved
    assert any(r["action"] == "mfa-config" for r in await stack.stores.audit.for_user(
        ids.tenant, ""))
    pre = await stack.post("/resources/users/v1/mfa/authenticator/enroll",
                           token=stack.user_token(ids))
    assert pre["qrCode"] == enrollment(pre["secret"], account=ids.email, issuer="Acme").qrCode


async def test_a_tenant_admin_sends_code_mails_only_from_an_approved_domain(
        stack: Stack, ids: Ids) -> None:
    """The review's L3: the mails leave through the deployment's relay and credentials."""
    admin = stack.user_token(ids, roles=["Admin"])
    for sender in ("ceo@other.example", "no-reply@mail.acme.test", "x@acme.test.evil"):
        res = await stack.post(f"{CONFIG}/mfa", {"email": {
            "active": True, "tokenLifetimeSeconds": 300, "sender": sender}}, token=admin,
            expected_status=400)
        assert res["errorCode"] == "ER-MFA-VALIDATION" and "MFA_EMAIL_SENDER_DOMAINS" in \
            res["errors"][0], sender
    assert (await stack.get(f"{CONFIG}/mfa", token=admin))["email"]["sender"] == ""
    saved = await stack.post(f"{CONFIG}/mfa", {"email": {
        "active": True, "tokenLifetimeSeconds": 300, "sender": "Login@ACME.test"}},
        token=admin, expected_status=201)
    assert saved["email"]["sender"] == "Login@ACME.test"


async def test_the_session_starts_forced_enrollment_with_the_tenants_service_name(
        stack: Stack, ids: Ids) -> None:
    await stack.post(f"{CONFIG}/mfa", {"authenticationApp": {"active": True,
                                                             "serviceName": "Acme"}},
                     headers=vendor(stack, ids.tenant), expected_status=201)
    started = await stack.start_session(ids)
    assert started["qrCode"] == enrollment(started["secret"], account=ids.email,
                                           issuer="Acme").qrCode


async def test_environment_wide_lockout_policy_is_the_vendors_and_every_tenants_fallback(
        stack: Stack, ids: Ids) -> None:
    try:
        made = await stack.post(f"{CONFIG}/lockout-policy", {"enabled": False,
                                                             "maxAttempts": 7},
                                headers=vendor(stack), expected_status=201)
        assert await stack.get(f"{CONFIG}/lockout-policy/vendor", headers=vendor(stack)) == made
        assert await stack.get(f"{CONFIG}/lockout-policy",
                               headers=vendor(stack, ids.tenant)) == made
    finally:  # the environment's row reaches every tenant of the shared test database
        await stack.stores.db.execute("DELETE FROM mfa_configurations WHERE tenant_id = ''")
    got = await stack.get(f"{CONFIG}/lockout-policy/vendor", headers=vendor(stack))
    assert (got["id"], got["maxAttempts"]) == ("default", stack.settings.lockout_max_failures)
