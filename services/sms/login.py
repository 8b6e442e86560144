"""The SMS factor mid-login (auth routes, authorized by the mfaToken): forced enrollment and
the login code. No HTTP here.

Every otcToken is bound to the user and to a purpose that names the flow, the device and the
MFA session, so one flow's token fails in any other, like a wrong code."""

from __future__ import annotations

from services.sms.credentials import add_device, sms_device, sms_policy
from services.sms.delivery import CodeSent, Requester, Sender, send_enroll_code, send_to_device
from shared.mfa.challenges import InvalidChallenge
from shared.mfa.flow import (
    Attempt,
    InvalidMfaToken,
    LoginResult,
    after_enrollment,
    ensure_allowed,
    pending_secret,
    require_unenrolled,
)
from shared.mfa.registry import SMS
from shared.mfa.sessions import MfaSession
from shared.stores.bundle import Stores


def _login_verify(s: MfaSession, device_id: str) -> str:
    return f"sms-login-verify:{device_id}:{s.key}"


def _login_enroll(s: MfaSession) -> str:
    return f"sms-login-enroll:{s.key}"


async def enroll_start(stores: Stores, sender: Sender, who: Requester, *,
                       session: MfaSession, phone_number: str) -> CodeSent:
    """Forced enrollment: send a code to the number the user typed."""
    await sms_policy(stores, session.tenant_id)
    await require_unenrolled(stores, session)
    return await send_enroll_code(stores, sender, who, tenant_id=session.tenant_id,
                                  user_id=session.user_id, raw_phone=phone_number,
                                  purpose=_login_enroll(session))


async def enroll_verify(stores: Stores, *, attempt: Attempt, otc_token: str, code: str,
                        remember_device: bool) -> LoginResult:
    """Forced enrollment: the code proves the phone; the device is added and login completes."""
    s = attempt.session
    assert s is not None
    ch = await stores.challenges.verify(otc_token, code, purpose=_login_enroll(s),
                                        tenant_id=s.tenant_id, user_id=s.user_id)
    # One enrollment per session, claimed before the device exists (parallel otcTokens).
    if not await stores.eph.put_new(stores.sessions.side_key(s, "sms-enrolled"), {},
                                    stores.sessions.remaining(s)):
        raise InvalidMfaToken()
    device = await add_device(stores, ch)
    recovery = await after_enrollment(
        stores, tenant_id=s.tenant_id, user_id=s.user_id, email=s.email, factor=attempt.factor,
        device_id=device.id,
        pending_recovery=pending_secret(stores, s, s.pending.recovery_code))
    return await attempt.login(device_id=device.id, remember_device=remember_device,
                               recovery_code=recovery)


async def verify_start(stores: Stores, sender: Sender, who: Requester, *, session: MfaSession,
                       device_id: str) -> CodeSent:
    """Send a login code to an enrolled phone (not while the tenant has SMS off: the send's
    admission refuses it, nothing is sent or billed); the number comes back masked."""
    device = await sms_device(stores, session.tenant_id, session.user_id, device_id)
    return await send_to_device(stores, sender, who, device, purpose="verify",
                                challenge_purpose=_login_verify(session, device.id))


async def verify(stores: Stores, *, attempt: Attempt, device_id: str, otc_token: str, code: str,
                 remember_device: bool) -> LoginResult:
    """The login code: complete the login (a token for another device fails like a bad code)."""
    s = attempt.session
    assert s is not None
    attempt.device_id = device_id
    await ensure_allowed(stores, SMS, s.tenant_id)  # a code sent before SMS was switched off
    await stores.challenges.verify(otc_token, code, purpose=_login_verify(s, device_id),
                                   tenant_id=s.tenant_id, user_id=s.user_id)
    if await stores.devices.get(s.tenant_id, s.user_id, device_id) is None:
        raise InvalidChallenge()  # removed while the code was on its way
    result = await attempt.login(device_id=device_id, remember_device=remember_device)
    await stores.devices.touch(device_id, stores.clock.time())
    return result
