"""The SMS factor mid-login (auth routes, authorized by the mfaToken): forced enrollment and
the login code. No HTTP here."""

from __future__ import annotations

from typing import Any

from services.sms.delivery import Requester, Sender
from services.sms.factor import (
    FACTOR,
    add_device,
    send_to_device,
    sms_device,
    sms_policy,
    start_enroll,
    verify,
)
from shared.challenges import InvalidChallenge
from shared.flow import (
    InvalidMfaToken,
    LoginResult,
    after_enrollment,
    check_lockout,
    complete_login,
    pending_aad,
    require_session,
    require_unenrolled,
)
from shared.mfa_session import MfaSession
from shared.stores import Stores


def _login_verify(s: MfaSession, device_id: str) -> str:
    return f"sms-login-verify:{device_id}:{s.key}"


def _login_enroll(s: MfaSession) -> str:
    return f"sms-login-enroll:{s.key}"


async def login_enroll_start(stores: Stores, sender: Sender, who: Requester, *, mfa_token: str,
                             phone_number: str) -> dict[str, Any]:
    """Forced enrollment: send a code to the number the user typed."""
    s = await require_session(stores, mfa_token)
    await sms_policy(stores, s.tenant_id)
    await require_unenrolled(stores, s)
    return await start_enroll(stores, sender, who, tenant_id=s.tenant_id, user_id=s.user_id,
                              raw_phone=phone_number, purpose=_login_enroll(s))


def _pending_recovery(stores: Stores, s: MfaSession) -> str | None:
    """The recovery code the session start already showed, so that one is the one that works."""
    env = s.extra.get("pendingRecovery")
    return stores.cipher.decrypt(env, pending_aad(s.tenant_id, s.user_id)).decode() if env \
        else None


async def login_enroll_verify(stores: Stores, *, mfa_token: str, otc_token: str, code: str,
                              remember_device: bool) -> LoginResult:
    """Forced enrollment: the code proves the phone; the device is added and login completes."""
    s = await require_session(stores, mfa_token)
    ch = await verify(stores, otc_token, code, purpose=_login_enroll(s),
                      tenant_id=s.tenant_id, user_id=s.user_id, session=s)
    # One enrollment per session, claimed before the device exists (parallel otcTokens).
    if not await stores.eph.put_new(stores.sessions.side_key(s, "sms-enrolled"), {},
                                    stores.sessions.remaining(s)):
        raise InvalidMfaToken()
    device = await add_device(stores, ch)
    recovery = await after_enrollment(stores, tenant_id=s.tenant_id, user_id=s.user_id,
                                      email=s.email, factor=FACTOR, device_id=device.id,
                                      pending_recovery=_pending_recovery(stores, s))
    return await complete_login(stores, s, factor=FACTOR, device_id=device.id,
                                remember_device=remember_device, recovery_code=recovery)


async def login_verify_start(stores: Stores, sender: Sender, who: Requester, *, mfa_token: str,
                             device_id: str) -> dict[str, Any]:
    """Send a login code to an enrolled phone; the number comes back masked."""
    s = await require_session(stores, mfa_token)
    await check_lockout(stores, s.tenant_id, s.user_id, FACTOR)
    device = await sms_device(stores, s.tenant_id, s.user_id, device_id)
    return await send_to_device(stores, sender, who, device, purpose="verify",
                                challenge_purpose=_login_verify(s, device.id))


async def login_verify(stores: Stores, *, mfa_token: str, device_id: str, otc_token: str,
                       code: str, remember_device: bool) -> LoginResult:
    """The login code: complete the login (a token for another device fails like a bad code)."""
    s = await require_session(stores, mfa_token)
    await verify(stores, otc_token, code, purpose=_login_verify(s, device_id),
                 tenant_id=s.tenant_id, user_id=s.user_id, session=s, device_id=device_id)
    if await stores.devices.get(s.tenant_id, s.user_id, device_id) is None:
        raise InvalidChallenge()  # removed while the code was on its way
    result = await complete_login(stores, s, factor=FACTOR, device_id=device_id,
                                  remember_device=remember_device)
    await stores.devices.touch(device_id, stores.clock.time())
    return result
