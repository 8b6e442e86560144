"""The session service's unauthenticated and mfaToken side: starting an MFA session (the
host's internal call after its password step), whether the device may be remembered, and
recovery with the recovery code. No HTTP here."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from services.session.profile import enrolled, mfa_devices
from shared.errors import BadRequest
from shared.flow import login_body, recovery_attempt
from shared.lockout import FACTORS
from shared.mfa_session import MfaSession, PendingEnrollment, pending_aad
from shared.otpauth import enrollment, new_seed
from shared.policies import Policy
from shared.recovery import new_recovery_code
from shared.stores import Stores


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
                        remember_token: str | None, saml_login: bool) -> dict[str, Any]:
    """The MFA fields of Frontegg's login response for a user past the password step."""
    # Three independent statements, sent at once on three pooled connections: the login waits
    # for one round trip, not three.
    _, policy, devices = await asyncio.gather(
        stores.recovery.remember_email(tenant_id, user_id, email),
        stores.policies.get(tenant_id), stores.devices.list_for_user(tenant_id, user_id))
    view = mfa_devices(devices, email, policy)
    is_enrolled = enrolled(view)
    if (is_enrolled and remember_token and policy.allowRememberMyDevice
            and await stores.remembered.is_valid(remember_token, tenant_id, user_id)):
        return login_body(stores, tenant_id=tenant_id, user_id=user_id, email=email,
                          amr=["mfa", "rmd"])
    if not _must_do_mfa(policy, is_enrolled, saml_login):
        return login_body(stores, tenant_id=tenant_id, user_id=user_id, email=email,
                          amr=["pwd"], mfa=False)
    pending = PendingEnrollment()
    shown: dict[str, Any] = {}
    if not is_enrolled and policy.allows("AuthenticatorApp"):
        seed = new_seed()
        aad = pending_aad(tenant_id, user_id)
        issuer = await stores.configs.mfa_setting(tenant_id, "authenticationApp",
                                                  "serviceName", stores.settings.issuer_name)
        shown = {**vars(enrollment(seed, account=email, issuer=issuer))}
        recovery = None
        if not await stores.recovery.has_code(tenant_id, user_id):
            # A user who still holds an unused code keeps it; a new one would never be stored.
            code = new_recovery_code()
            recovery = stores.cipher.encrypt(code.encode(), aad)
            shown["recoveryCode"] = code
        pending = PendingEnrollment(totp_seed=stores.cipher.encrypt(seed.encode(), aad),
                                    recovery_code=recovery)
    lock_at = await stores.lockout.tenant_lock_at(tenant_id, now=stores.clock.time())
    token, _ = await stores.sessions.create(tenant_id=tenant_id, user_id=user_id, email=email,
                                            pending=pending, devices=devices, lock_at=lock_at)
    return {"mfaRequired": True, "mfaToken": token, "mfaEnrolled": is_enrolled,
            "mfaDevices": view, "mfaStrategies": list(policy.strategies), **shown,
            "userId": user_id, "userEmail": email}


async def allow_remember(stores: Stores, *, session: MfaSession) -> RememberPolicy:
    """Whether the session's tenant lets this device be remembered, and for how long."""
    policy = await stores.policies.get(session.tenant_id)
    return RememberPolicy(policy.allowRememberMyDevice, policy.mfaDeviceExpiration)


async def recover(stores: Stores, *, email: str, code: str, client_ip: str) -> None:
    """Use the recovery code (counted before it is compared, per email and client address):
    the user's MFA devices are removed, they enroll again."""
    async with recovery_attempt(stores, email=email, ip=client_ip):
        found = await stores.recovery.redeem_by_email(email, code)
        if found is None:
            raise BadRequest("Invalid recovery code", code="ER-MFA-INVALID-RECOVERY-CODE")
    tenant_id, user_id = found
    removed = await stores.devices.delete_all(tenant_id, user_id)
    await stores.remembered.revoke_all(tenant_id, user_id)
    await stores.lockout.reset(tenant_id, user_id, *FACTORS)
    await stores.users.mark_factors_changed(tenant_id, user_id)  # retires older bearer tokens
    await stores.audit.record(tenant_id=tenant_id, user_id=user_id, factor="recovery",
                              action="recovery", outcome="success",
                              detail={"devicesRemoved": removed})
