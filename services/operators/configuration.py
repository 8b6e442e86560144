"""Frontegg's vendor configuration routes (contract 2, sections 1.6 and 2): the lockout
policy, the MFA policy's upsert, one strategy at a time, and the MFA configuration (TOTP
issuer, SMS/email code lifetimes, email sender), and the tenant's MFA policy. Each is per
tenant, or environment-wide for a vendor without frontegg-tenant-id, and every change is
audited with the actor. No HTTP here.

The lockout policy maps onto our per-factor lockout: `maxAttempts` is the number of
consecutive failures of one factor (TOTP, SMS, email, WebAuthn, each counted on its own) that
locks that factor, capped at MFA_LOCKOUT_MAX_FAILURES (a tenant can be stricter than the
deployment, never laxer); `enabled: false` means the deployment's threshold applies (an MFA
lockout cannot be switched off). The growing delay before the lock stays the deployment's."""

from __future__ import annotations

from typing import Any

from shared.http.access import TenantCaller
from shared.http.errors import BadRequest, Conflict, Forbidden, NotFound
from shared.mfa.config_store import ENVIRONMENT, StoredConfig
from shared.mfa.policies import default_policy
from shared.mfa.registry import STRATEGIES
from shared.mfa.resets import iso
from shared.stores.bundle import Stores

LOCKOUT = "lockout"
MFA = "mfa"
SECTIONS = {"authenticationApp": "AuthenticatorApp", "sms": "SMS", "email": "EmailCode"}


def _admin(caller: TenantCaller) -> None:
    if not caller.admin:
        raise Forbidden("Tenant administration is required", code="ER-MFA-NOT-ADMIN")


async def _audit(stores: Stores, caller: TenantCaller, action: str,
                 changes: dict[str, Any]) -> None:
    await stores.audit.record(tenant_id=caller.tenant_id, user_id="", factor="config",
                              action=action, outcome="success",
                              detail={"actor": caller.actor, "changes": changes})


def _lockout_out(stored: StoredConfig) -> dict[str, Any]:
    return {"id": stored.id, "enabled": bool(stored.doc["enabled"]),
            "maxAttempts": int(stored.doc["maxAttempts"]), "createdAt": iso(stored.created_at),
            "updatedAt": iso(stored.updated_at)}


async def get_lockout(stores: Stores, caller: TenantCaller) -> dict[str, Any]:
    """The scope's lockout policy (a tenant without one: the environment's), else 404."""
    stored = await stores.configs.get(LOCKOUT, caller.tenant_id)
    if stored is None and caller.tenant_id != ENVIRONMENT:
        stored = await stores.configs.get(LOCKOUT, ENVIRONMENT)
    if stored is None:
        raise NotFound("Lockout policy is not defined", code="ER-MFA-LOCKOUT-POLICY-NOT-FOUND")
    return _lockout_out(stored)


async def vendor_lockout(stores: Stores) -> dict[str, Any]:
    """The environment's lockout policy, or the deployment's own threshold (id `default`)."""
    stored = await stores.configs.get(LOCKOUT, ENVIRONMENT)
    if stored is not None:
        return _lockout_out(stored)
    return {"id": "default", "enabled": True,
            "maxAttempts": stores.lockout.limits.lock_at, "createdAt": iso(0),
            "updatedAt": iso(0)}


async def save_lockout(stores: Stores, caller: TenantCaller, body: dict[str, Any], *,
                       create: bool) -> dict[str, Any]:
    """POST creates (409 when the scope has one), PATCH updates (404 when it has none)."""
    _admin(caller)
    doc = {"enabled": body["enabled"], "maxAttempts": body["maxAttempts"]}
    if create and not await stores.configs.create(LOCKOUT, caller.tenant_id, doc):
        raise Conflict("Lockout Policy already exists", code="ER-MFA-LOCKOUT-POLICY-EXISTS")
    if not create and not await stores.configs.update(LOCKOUT, caller.tenant_id, doc):
        raise NotFound("Lockout Policy not found. Try to use the Create Lockout Policy API",
                       code="ER-MFA-LOCKOUT-POLICY-NOT-FOUND")
    stores.lockout.forget_policy(caller.tenant_id or None)
    await _audit(stores, caller, "lockout-policy", doc)
    stored = await stores.configs.get(LOCKOUT, caller.tenant_id)
    assert stored is not None
    return _lockout_out(stored)


async def save_policy(stores: Stores, caller: TenantCaller, changes: dict[str, Any], *,
                      replace_all: bool) -> dict[str, Any]:
    """The MFA policy's POST (replace), PATCH and PUT (merge), audited with the actor."""
    _admin(caller)
    cap = stores.settings.device_expiration_cap
    if changes.get("mfaDeviceExpiration", 0) > cap:
        raise BadRequest(f"mfaDeviceExpiration: at most {cap}", code="ER-MFA-VALIDATION")
    saved = (await stores.policies.save(caller.tenant_id, changes,
                                        replace_all=replace_all)).to_json()
    await _audit(stores, caller, "mfa-policy", changes)
    return saved


async def set_strategy(stores: Stores, caller: TenantCaller, strategy: str,
                       active: bool) -> None:
    """Switch one strategy on or off for the scope (the login's mfaStrategies follow)."""
    _admin(caller)
    current = list((await stores.policies.get(caller.tenant_id)).strategies)
    wanted = ([*current, strategy] if strategy not in current else current) if active \
        else [s for s in current if s != strategy]
    await stores.policies.save(caller.tenant_id, {"strategies": wanted}, replace_all=False)
    await _audit(stores, caller, "mfa-strategy", {"strategy": strategy, "isActive": active})


async def mfa_config(stores: Stores, caller: TenantCaller) -> dict[str, Any]:
    """{authenticationApp, sms, email} of the scope: stored values over the deployment's."""
    policy = await stores.policies.get(caller.tenant_id)
    doc = await stores.configs.layered(MFA, caller.tenant_id)
    s = stores.settings  # the same readers the sms and email services use
    defaults: dict[str, dict[str, Any]] = {
        "authenticationApp": {"serviceName": s.issuer_name},
        "sms": {"tokenLifetimeSeconds": s.sms_code_ttl},
        "email": {"tokenLifetimeSeconds": s.email_code_ttl, "sender": s.smtp_from},
    }
    out: dict[str, Any] = {}
    for name, strategy in SECTIONS.items():
        stored = doc.get(name)
        out[name] = {"active": policy.allows(strategy), **defaults[name],
                     **(stored if isinstance(stored, dict) else {})}
    return out


async def save_mfa_config(stores: Stores, caller: TenantCaller,
                          body: dict[str, Any]) -> dict[str, Any]:
    """Upsert the sections given (omitted ones keep their values); `active` switches the
    section's strategy."""
    _admin(caller)
    given = {name: section for name, section in body.items()
             if name in SECTIONS and section is not None}
    sender = (given.get("email") or {}).get("sender")
    if sender and not stores.settings.sender_allowed(sender):
        raise BadRequest("email.sender: its domain is not one this deployment sends from "
                         "(MFA_EMAIL_SENDER_DOMAINS)", code="ER-MFA-VALIDATION")
    if given:
        policy = await stores.policies.get(caller.tenant_id)
        strategies = [s for s in policy.strategies
                      if s not in {SECTIONS[n] for n in given}]
        strategies += [SECTIONS[n] for n, section in given.items() if section["active"]]
        await stores.policies.save(caller.tenant_id, {"strategies": strategies},
                                   replace_all=False)
        await stores.configs.merge(MFA, caller.tenant_id, {
            n: {k: v for k, v in section.items() if k != "active"} for n, section in given.items()})
        await _audit(stores, caller, "mfa-config", given)
    return await mfa_config(stores, caller)


async def policy_of(stores: Stores, *, caller: TenantCaller) -> dict[str, Any]:
    """The tenant's effective policy."""
    return (await stores.policies.get(caller.tenant_id)).to_json()


def vendor_policy(stores: Stores) -> dict[str, Any]:
    """The deployment-wide default policy."""
    return default_policy(stores.settings).to_json()


async def strategies(stores: Stores, *, tenant_id: str | None) -> dict[str, Any]:
    """{strategies: [{strategy, isActive}]} for a tenant, or the deployment's default."""
    policy = (await stores.policies.get(tenant_id)) if tenant_id \
        else default_policy(stores.settings)
    return {"strategies": [{"strategy": s, "isActive": policy.allows(s)} for s in STRATEGIES]}
