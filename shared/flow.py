"""The factor-agnostic MFA core: session checks, failure counting, completing a login, and
what follows an enrollment. No HTTP here."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared.devices import Device
from shared.errors import Forbidden, TooManyRequests, Unauthorized
from shared.metrics import verified
from shared.mfa_session import MfaSession
from shared.stores import Stores

AMR = {"totp": ["mfa", "otp"], "sms": ["mfa", "sms"], "email": ["mfa", "otp"],
       "webauthn": ["mfa", "hwk"]}


class InvalidMfaToken(Unauthorized):
    """The mfaToken is unknown, expired, burned or used."""

    code = "ER-MFA-INVALID-MFA-TOKEN"
    default_message = "Invalid or expired MFA token"


@dataclass(frozen=True)
class LoginResult:
    """Frontegg's login response body, plus a remember-device token for the cookie."""

    body: dict[str, Any]
    remember_token: str | None = None
    remember_max_age: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def pending_aad(tenant_id: str, user_id: str) -> str:
    """Associated data for the pending secrets a session start hands out (forced enrollment)."""
    return f"pending\x00{tenant_id}\x00{user_id}"


async def require_session(stores: Stores, mfa_token: str | None) -> MfaSession:
    """The live MFA session of an mfaToken; 401 otherwise."""
    s = await stores.sessions.load(mfa_token or "")
    if s is None:
        verified("session", "expired")
        raise InvalidMfaToken()
    return s


class AlreadyEnrolled(Forbidden):
    """Mid-login enrollment is forced enrollment: only for users with no factor yet."""

    code = "ER-MFA-ALREADY-ENROLLED"
    default_message = "MFA is already enrolled; verify with an enrolled factor"


async def require_unenrolled(stores: Stores, session: MfaSession,
                             devices: list[Device] | None = None) -> None:
    """Refuse enrolling with only an mfaToken (the password) for a user who has any factor:
    else a stolen password alone would be enough to add the attacker's device. `devices`: the
    user's devices when the caller has already read them."""
    policy = await stores.policies.get(session.tenant_id)
    has_email = bool(session.email) and policy.allows("EmailCode")
    if devices is None:
        devices = await stores.devices.list_for_user(session.tenant_id, session.user_id)
    if session.purpose != "login" or has_email or devices:
        raise AlreadyEnrolled()


async def check_lockout(stores: Stores, tenant_id: str, user_id: str, factor: str) -> None:
    """429 while the factor is delayed or locked for this user."""
    try:
        await stores.lockout.check(tenant_id, user_id, factor)
    except TooManyRequests:
        verified(factor, "locked")
        raise


async def record_failure(stores: Stores, *, tenant_id: str, user_id: str, factor: str,
                         session: MfaSession | None = None, device_id: str | None = None
                         ) -> None:
    """Count a failed proof against the mfaToken and the factor's lockout; audit it."""
    burned = await stores.sessions.fail(session) if session is not None else False
    n = await stores.lockout.failure(tenant_id, user_id, factor)
    locked = n >= stores.settings.lockout_max_failures
    verified(factor, "locked" if locked else "wrong_code")
    await stores.audit.record(tenant_id=tenant_id, user_id=user_id, factor=factor,
                              action="lockout" if locked else "failure", outcome="refused",
                              device_id=device_id,
                              detail={"consecutive": n, "tokenBurned": burned})


def login_body(stores: Stores, *, tenant_id: str, user_id: str, email: str,
               amr: list[str], mfa: bool = True) -> dict[str, Any]:
    """Frontegg's ILoginResponse with a real, signed accessToken."""
    token, exp = stores.tokens.issue(user_id=user_id, tenant_id=tenant_id, email=email, amr=amr,
                                     mfa=mfa)
    now = int(stores.clock.time())
    body: dict[str, Any] = {
        "mfaRequired": False, "accessToken": token, "refreshToken": "", "exp": exp,
        "expiresIn": exp - now, "expires": datetime.fromtimestamp(exp, UTC).isoformat(),
        "userId": user_id, "userEmail": email, "tenantId": tenant_id, "amr": amr,
        "auth_time": now,
    }
    if mfa:
        body["acr"] = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"
    return body


async def complete_login(stores: Stores, session: MfaSession, *, factor: str,
                         device_id: str | None, remember_device: bool = False,
                         recovery_code: str | None = None) -> LoginResult:
    """Consume the mfaToken (one winner), reset the lockout, sign the access token, and
    remember the device when asked and allowed."""
    if not await stores.sessions.consume(session):
        raise InvalidMfaToken()
    t, u = session.tenant_id, session.user_id
    verified(factor, "success")
    await stores.lockout.success(t, u, factor)
    await stores.audit.record(tenant_id=t, user_id=u, factor=factor, action="verify",
                              outcome="success", device_id=device_id)
    body = login_body(stores, tenant_id=t, user_id=u, email=session.email, amr=AMR[factor])
    if recovery_code:
        body["recoveryCode"] = recovery_code
    remember, max_age = None, 0
    if remember_device:
        policy = await stores.policies.get(t)
        if policy.allowRememberMyDevice and policy.mfaDeviceExpiration > 0:
            max_age = policy.mfaDeviceExpiration
            remember = await stores.remembered.issue(t, u, max_age)
            body["rememberDeviceToken"] = remember
    return LoginResult(body=body, remember_token=remember, remember_max_age=max_age)


async def after_enrollment(stores: Stores, *, tenant_id: str, user_id: str, email: str,
                           factor: str, device_id: str,
                           pending_recovery: str | None = None) -> str | None:
    """A new factor: audit it, revoke remembered devices, and hand out the recovery code if
    this is the user's first. Returns the recovery code to show once, or None."""
    await stores.audit.record(tenant_id=tenant_id, user_id=user_id, factor=factor,
                              action="enroll", outcome="success", device_id=device_id)
    await stores.remembered.revoke_all(tenant_id, user_id)
    return await stores.recovery.issue_if_missing(tenant_id, user_id, email, pending_recovery)


async def after_removal(stores: Stores, *, tenant_id: str, user_id: str, factor: str,
                        device_id: str) -> None:
    """A factor was disabled: audit it and revoke remembered devices."""
    await stores.audit.record(tenant_id=tenant_id, user_id=user_id, factor=factor,
                              action="disable", outcome="success", device_id=device_id)
    await stores.remembered.revoke_all(tenant_id, user_id)

