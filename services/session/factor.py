"""The session service's core: starting an MFA session, what a user has enrolled, policy,
step-up and recovery. No HTTP here."""

from __future__ import annotations

from typing import Any

from shared.crypto import token_hash
from shared.devices import Device
from shared.errors import BadRequest, TooManyRequests
from shared.flow import login_body, pending_aad
from shared.otpauth import enrollment, new_seed
from shared.policies import Policy
from shared.recovery import new_recovery_code
from shared.stores import Stores
from shared.tokens import MFA_ACR, Principal

NOT_ENROLLED = "MFA is not enrolled"


def mfa_devices(devices: list[Device], email: str, policy: Policy) -> dict[str, list[Any]]:
    """Frontegg's mfaDevices: always all four arrays."""
    out: dict[str, list[Any]] = {"webauthn": [], "phones": [], "authenticators": [], "emails": []}
    for d in devices:
        if d.kind == "totp":
            out["authenticators"].append({"id": d.id})
        elif d.kind == "sms":
            out["phones"].append({"id": d.id, "phoneNumber": d.data.get("phoneMasked", "")})
        elif d.kind == "webauthn":
            out["webauthn"].append({"id": d.id, "deviceType": d.data.get("deviceType",
                                                                         "CrossPlatform"),
                                    "name": d.name})
    if email and policy.allows("EmailCode"):
        out["emails"].append({"email": email})
    return out


def _enrolled(view: dict[str, list[Any]]) -> bool:
    return any(view[k] for k in ("webauthn", "phones", "authenticators", "emails"))


def _must_do_mfa(policy: Policy, enrolled: bool, saml: bool) -> bool:
    if enrolled:
        return True
    return policy.enforceMFAType == "Force" or (policy.enforceMFAType == "ForceExceptSAML"
                                                and not saml)


async def start_session(stores: Stores, *, userId: str, tenantId: str, email: str,
                        phoneNumber: str | None, rememberDeviceToken: str | None,
                        samlLogin: bool) -> dict[str, Any]:
    """The MFA fields of Frontegg's login response for a user past the password step."""
    await stores.recovery.remember_email(tenantId, userId, email)
    policy = await stores.policies.get(tenantId)
    view = mfa_devices(await stores.devices.list_for_user(tenantId, userId), email, policy)
    enrolled = _enrolled(view)
    if (enrolled and rememberDeviceToken and policy.allowRememberMyDevice
            and await stores.remembered.is_valid(rememberDeviceToken, tenantId, userId)):
        return login_body(stores, tenant_id=tenantId, user_id=userId, email=email,
                          amr=["mfa", "rmd"])
    if not _must_do_mfa(policy, enrolled, samlLogin):
        return login_body(stores, tenant_id=tenantId, user_id=userId, email=email,
                          amr=["pwd"], mfa=False)
    extra: dict[str, Any] = {}
    shown: dict[str, Any] = {}
    if not enrolled and policy.allows("AuthenticatorApp"):
        seed = new_seed()
        aad = pending_aad(tenantId, userId)
        extra = {"pendingTotp": stores.cipher.encrypt(seed.encode(), aad)}
        shown = enrollment(seed, account=email, issuer=stores.settings.issuer_name)
        if not await stores.recovery.has_code(tenantId, userId):
            # A user who still holds an unused code keeps it; a new one would never be stored.
            code = new_recovery_code()
            extra["pendingRecovery"] = stores.cipher.encrypt(code.encode(), aad)
            shown["recoveryCode"] = code
    token, _ = await stores.sessions.create(tenant_id=tenantId, user_id=userId, email=email,
                                            phone_number=phoneNumber, extra=extra)
    return {"mfaRequired": True, "mfaToken": token, "mfaEnrolled": enrolled,
            "mfaDevices": view, "mfaStrategies": list(policy.strategies), **shown,
            "userId": userId, "userEmail": email}


async def allow_remember(stores: Stores, tenant_id: str) -> dict[str, Any]:
    """{isAllowedToRemember, mfaDeviceExpiration} for the session's tenant."""
    policy = await stores.policies.get(tenant_id)
    return {"isAllowedToRemember": policy.allowRememberMyDevice,
            "mfaDeviceExpiration": policy.mfaDeviceExpiration}


async def devices_of(stores: Stores, p: Principal) -> dict[str, list[Any]]:
    """The logged-in user's devices, as the four arrays."""
    policy = await stores.policies.get(p.tenant_id)
    return mfa_devices(await stores.devices.list_for_user(p.tenant_id, p.user_id), p.email,
                       policy)


def _stepped_up(claims: dict[str, Any], max_age: int, now: float) -> bool:
    amr = claims.get("amr") or []
    return (claims.get("acr") == MFA_ACR and "mfa" in amr
            and any(m in amr for m in ("otp", "sms", "hwk"))
            and isinstance(claims.get("auth_time"), int | float)
            and now - claims["auth_time"] <= max_age)


async def step_up(stores: Stores, p: Principal, max_age: int | None) -> dict[str, Any]:
    """A fresh MFA session for a logged-in user, or a login response when still fresh."""
    if max_age is not None and _stepped_up(p.claims, max_age, stores.clock.time()):
        body = login_body(stores, tenant_id=p.tenant_id, user_id=p.user_id, email=p.email,
                          amr=list(p.claims["amr"]))
        body["auth_time"] = int(p.claims["auth_time"])
        return body
    view = await devices_of(stores, p)
    if not _enrolled(view):
        raise BadRequest(NOT_ENROLLED, code="ER-MFA-NOT-ENROLLED")
    token, _ = await stores.sessions.create(tenant_id=p.tenant_id, user_id=p.user_id,
                                            email=p.email, purpose="stepup")
    return {"mfaToken": token, "mfaEnrolled": True, "mfaDevices": view}


async def recover(stores: Stores, email: str, code: str) -> None:
    """Use the recovery code: the user's MFA devices are removed, they enroll again."""
    key = f"recover:{token_hash(email.lower())}"
    if await stores.eph.incr(key, 3600) > 10:
        raise TooManyRequests("Too many recovery attempts, try again later",
                              retry_after=int(await stores.eph.ttl(key)) + 1)
    found = await stores.recovery.redeem_by_email(email, code)
    if found is None:
        raise BadRequest("Invalid recovery code", code="ER-MFA-INVALID-RECOVERY-CODE")
    tenant_id, user_id = found
    removed = await stores.devices.delete_all(tenant_id, user_id)
    await stores.remembered.revoke_all(tenant_id, user_id)
    for factor in ("totp", "sms", "email", "webauthn"):
        await stores.lockout.reset(tenant_id, user_id, factor)
    await stores.audit.record(tenant_id=tenant_id, user_id=user_id, factor="recovery",
                              action="recovery", outcome="success",
                              detail={"devicesRemoved": removed})
