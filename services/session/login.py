"""The session service's unauthenticated and mfaToken side: starting an MFA session (the
host's internal call after its password step), whether the device may be remembered, and
recovery with the recovery code. No HTTP here."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from services.session.profile import enrolled, mfa_devices
from shared.events.audit import AuditEvent
from shared.http.caller import network_of
from shared.http.errors import BadRequest
from shared.mfa.flow import Attempt, LoginResult, login_body, recovery_attempt
from shared.mfa.otpauth import enrollment, new_seed
from shared.mfa.policies import Policy
from shared.mfa.recovery import new_recovery_code
from shared.mfa.registry import (
    CODE_SET,
    DEVICES,
    LOCKOUT_FACTORS,
    MFA_STRATEGIES,
    RECOVER,
    RECOVERY,
    TOTP,
    USER_CODE,
    kind,
)
from shared.mfa.resets import clear
from shared.mfa.sessions import MfaSession, PendingEnrollment, pending_aad
from shared.stores.bundle import Stores

# With the tenant's recoverKeepsDevices, a set code that leaves codes over keeps these.
KEPT_ON_RECOVERY = frozenset({DEVICES, CODE_SET, USER_CODE})


@dataclass(frozen=True)
class RememberPolicy:
    """{isAllowedToRemember, mfaDeviceExpiration} for the session's tenant."""

    isAllowedToRemember: bool  # noqa: N815 - the wire's names
    mfaDeviceExpiration: int  # noqa: N815


def _must_do_mfa(policy: Policy, is_enrolled: bool, saml: bool) -> bool:
    if is_enrolled:
        return True
    return policy.enforceMFAType == "Force" or (policy.enforceMFAType == "ForceExceptSAML"
                                                and not saml)


async def start_session(stores: Stores, *, user_id: str, tenant_id: str, email: str,
                        remember_token: str | None, saml_login: bool,
                        client_ip: str | None = None) -> dict[str, Any]:
    """The MFA fields of Frontegg's login response for a user past the password step."""
    # Three independent statements, sent at once on three pooled connections: the login waits
    # for one round trip, not three.
    _, policy, devices = await asyncio.gather(
        stores.recovery.remember_email(tenant_id, user_id, email),
        stores.policies.get(tenant_id), stores.devices.list_for_user(tenant_id, user_id))
    view = mfa_devices(devices, email, policy)
    is_enrolled = enrolled(view)
    if is_enrolled and remember_token and policy.allowRememberMyDevice:
        used = await stores.remembered.use(remember_token, tenant_id, user_id,
                                           network=network_of(client_ip) if client_ip else None)
        if used.reused:
            # A rotated-out token again: two browsers hold this device's chain, one of them
            # a thief's. The chain is revoked; MFA is asked for.
            await stores.audit.record(tenant_id=tenant_id, user_id=user_id, factor="remember",
                                      action="reuse", outcome="refused",
                                      detail={"chainRevoked": used.revoked})
        if used.valid:
            return {**login_body(stores, tenant_id=tenant_id, user_id=user_id, email=email,
                                 amr=["mfa", "rmd"]),
                    "rememberDeviceToken": used.token, "rememberDeviceMaxAge": used.max_age}
    if not _must_do_mfa(policy, is_enrolled, saml_login):
        return login_body(stores, tenant_id=tenant_id, user_id=user_id, email=email,
                          amr=["pwd"], mfa=False)
    pending = PendingEnrollment()
    shown: dict[str, Any] = {}
    if not is_enrolled:
        # A forced enrollment always ends with a fresh recovery code (any factor): it replaces
        # an unused old one only when the enrollment completes (shared.mfa.flow.after_enrollment).
        aad = pending_aad(tenant_id, user_id)
        code = new_recovery_code()
        seed = None
        if policy.allows_kind(TOTP):
            seed = new_seed()
            issuer = await stores.configs.mfa_setting(tenant_id, "authenticationApp",
                                                      "serviceName", stores.settings.issuer_name)
            shown = {**vars(enrollment(seed, account=email, issuer=issuer)),
                     "recoveryCode": code}
        pending = PendingEnrollment(
            totp_seed=stores.cipher.encrypt(seed.encode(), aad) if seed else None,
            recovery_code=stores.cipher.encrypt(code.encode(), aad))
    lock_at = await stores.lockout.tenant_lock_at(tenant_id, now=stores.clock.time())
    token, _ = await stores.sessions.create(
        tenant_id=tenant_id, user_id=user_id, email=email, pending=pending,
        devices=[d for d in devices if policy.allows_kind(kind(d.kind))], lock_at=lock_at,
        strategies=policy.strategies)
    return {"mfaRequired": True, "mfaToken": token, "mfaEnrolled": is_enrolled,
            "mfaDevices": view, "mfaStrategies": [s for s in policy.strategies
                                                  if s in MFA_STRATEGIES], **shown,
            "userId": user_id, "userEmail": email}


async def allow_remember(stores: Stores, *, session: MfaSession) -> RememberPolicy:
    """Whether the session's tenant lets this device be remembered, and for how long."""
    policy = await stores.policies.get(session.tenant_id)
    return RememberPolicy(policy.allowRememberMyDevice, policy.mfaDeviceExpiration)


async def recover(stores: Stores, *, email: str, code: str, client_ip: str) -> None:
    """Use a recovery code (counted before it is compared, per email and client address):
    Frontegg's one code, or one of the user's set. The user's MFA devices are removed and they
    enroll again; with the tenant's `recoverKeepsDevices`, a code of the set that leaves codes
    over keeps them (the user logs in with a factor or another code of the set)."""
    left: int | None = None
    async with recovery_attempt(stores, email=email, ip=client_ip):
        found = await stores.recovery.redeem_by_email(email, code)
        if found is None:
            hit = await stores.recovery_sets.redeem_by_email(email, code)
            if hit is None:
                raise BadRequest("Invalid recovery code", code="ER-MFA-INVALID-RECOVERY-CODE")
            found, left = (hit[0], hit[1]), hit[2]
    tenant_id, user_id = found
    keep = bool(left) and (await stores.policies.get(tenant_id)).recoverKeepsDevices
    detail: dict[str, Any] = {} if left is None else {"codesLeft": left}
    # What recovery removes is the registry's (every credential: whoever made one may be who
    # the owner recovers from); a set code with codes left under recoverKeepsDevices removes
    # only the remembered browsers. Older bearer tokens are retired either way.
    await clear(stores, tenant_id, user_id, RECOVER, keep=KEPT_ON_RECOVERY if keep else frozenset(),
                event=AuditEvent(tenant_id, user_id, RECOVERY.name, "recovery", "success",
                                 detail=detail))
    await stores.lockout.reset(tenant_id, user_id, *LOCKOUT_FACTORS)


async def login_with_code(stores: Stores, *, attempt: Attempt, code: str,
                          remember: bool) -> LoginResult:
    """A code of the user's set as the second factor mid-login (reserved like any proof):
    the code is spent, the devices stay, the login completes with amr ["mfa", "rec"]."""
    s = attempt.session
    # A user who holds no factor (the session start asked them to enroll) cannot log in with a
    # code: a set left over from before a reset is no way in (it is removed by the reset too).
    pending = s is not None and bool(s.pending.recovery_code)
    left = None if pending else await stores.recovery_sets.redeem_for_user(
        attempt.tenant_id, attempt.user_id, code)
    if left is None:
        raise BadRequest("Invalid recovery code", code="ER-MFA-INVALID-RECOVERY-CODE")
    # A recovery code used (an outbox event, like /mfa/recover), with the codes left.
    await stores.audit.with_change(None, (), attempt.event(action="recovery",
                                                           detail={"codesLeft": left}),
                                   use=attempt.use())
    return await attempt.login(device_id=None, remember_device=remember, audited=True)
