"""The WebAuthn factor's flows: mid-login (mfaToken) and logged-in (Bearer). No HTTP here.

Attempt limits, the mfaToken and the recovery code are the shared MFA core's (`shared.flow`);
this module only says when each is used.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

from services.webauthn import credentials as creds
from services.webauthn.ceremony import CeremonyFailed
from services.webauthn.config import WebAuthnConfig
from services.webauthn.credentials import Who
from shared.flow import (
    InvalidMfaToken,
    LoginResult,
    after_enrollment,
    after_removal,
    check_lockout,
    complete_login,
    pending_aad,
    record_failure,
    require_session,
    require_unenrolled,
)
from shared.mfa_session import MfaSession
from shared.stores import Stores
from shared.tokens import Principal

FACTOR = "webauthn"
T = TypeVar("T")


def _who(s: MfaSession | Principal) -> Who:
    return Who(tenant_id=s.tenant_id, user_id=s.user_id, email=s.email)


async def _counted(stores: Stores, who: Who, session: MfaSession | None, device_id: str | None,
                   proof: Awaitable[T]) -> T:
    """Run a proof; a failed one counts against the mfaToken and the factor's lockout.

    A spent or unknown webauthnToken does not count: it is 256 random bits, nothing to guess,
    and counting it would let a burst of replays burn the mfaToken of the one request that won.
    """
    try:
        return await proof
    except CeremonyFailed:
        await record_failure(stores, tenant_id=who.tenant_id, user_id=who.user_id,
                             factor=FACTOR, session=session, device_id=device_id)
        raise


def _pending_recovery(stores: Stores, s: MfaSession) -> str | None:
    """The recovery code the login response already showed, if the session start made one."""
    sealed = s.extra.get("pendingRecovery")
    if not sealed:
        return None
    return stores.cipher.decrypt(sealed, pending_aad(s.tenant_id, s.user_id)).decode()


async def login_pre_enroll(stores: Stores, cfg: WebAuthnConfig, mfa_token: str
                           ) -> dict[str, Any]:
    """Forced enrollment, step 1: registration options."""
    s = await require_session(stores, mfa_token)
    await require_unenrolled(stores, s)
    return await creds.begin_enroll(stores, cfg, _who(s), bind=s.key)


async def login_enroll(stores: Stores, cfg: WebAuthnConfig, body: dict[str, Any]
                       ) -> LoginResult:
    """Forced enrollment, step 2: store the credential and finish the login."""
    s = await require_session(stores, body["mfaToken"])
    who = _who(s)
    await check_lockout(stores, s.tenant_id, s.user_id, FACTOR)
    await require_unenrolled(stores, s)
    device = await _counted(stores, who, s, None, creds.finish_enroll(
        stores, cfg, who, token=body["webauthnToken"], device_type=body["deviceType"],
        credential=body["options"], bind=s.key))
    code = await after_enrollment(stores, tenant_id=s.tenant_id, user_id=s.user_id,
                                  email=s.email, factor=FACTOR, device_id=device.id,
                                  pending_recovery=_pending_recovery(stores, s))
    try:
        return await complete_login(stores, s, factor=FACTOR, device_id=device.id,
                                    remember_device=bool(body["rememberDevice"]),
                                    recovery_code=code)
    except InvalidMfaToken:
        # A parallel request finished this login first: this enrollment does not count.
        await stores.devices.delete(s.tenant_id, s.user_id, device.id)
        raise


async def login_pre_verify(stores: Stores, cfg: WebAuthnConfig, mfa_token: str,
                           device_id: str) -> dict[str, Any]:
    """The second factor, step 1: assertion options for one device."""
    s = await require_session(stores, mfa_token)
    await check_lockout(stores, s.tenant_id, s.user_id, FACTOR)
    device = await creds.device_of(stores, _who(s), device_id)
    return await creds.begin_assertion(stores, cfg, _who(s), device, purpose=creds.VERIFY,
                                       bind=s.key)


async def login_verify(stores: Stores, cfg: WebAuthnConfig, device_id: str,
                       body: dict[str, Any]) -> LoginResult:
    """The second factor, step 2: the assertion finishes the login."""
    s = await require_session(stores, body["mfaToken"])
    who = _who(s)
    await check_lockout(stores, s.tenant_id, s.user_id, FACTOR)
    device = await _counted(stores, who, s, device_id, creds.finish_assertion(
        stores, cfg, who, device_id, token=body["webauthnToken"], purpose=creds.VERIFY,
        credential=body["options"], bind=s.key))
    return await complete_login(stores, s, factor=FACTOR, device_id=device.id,
                                remember_device=bool(body["rememberDevice"]))


async def user_pre_enroll(stores: Stores, cfg: WebAuthnConfig, p: Principal) -> dict[str, Any]:
    """Profile page, add a key, step 1."""
    return await creds.begin_enroll(stores, cfg, _who(p))


async def user_enroll(stores: Stores, cfg: WebAuthnConfig, p: Principal,
                      body: dict[str, Any]) -> dict[str, Any]:
    """Profile page, add a key, step 2: {} or {recoveryCode} on a first factor."""
    who = _who(p)
    await check_lockout(stores, p.tenant_id, p.user_id, FACTOR)
    device = await _counted(stores, who, None, None, creds.finish_enroll(
        stores, cfg, who, token=body["webauthnToken"], device_type=body["deviceType"],
        credential=body["options"]))
    code = await after_enrollment(stores, tenant_id=p.tenant_id, user_id=p.user_id,
                                  email=p.email, factor=FACTOR, device_id=device.id)
    return {"recoveryCode": code} if code else {}


async def user_pre_disable(stores: Stores, cfg: WebAuthnConfig, p: Principal,
                           device_id: str) -> dict[str, Any]:
    """Profile page, remove a key, step 1: the key must sign to be removed."""
    device = await creds.device_of(stores, _who(p), device_id)
    return await creds.begin_assertion(stores, cfg, _who(p), device, purpose=creds.DISABLE)


async def user_disable(stores: Stores, cfg: WebAuthnConfig, p: Principal, device_id: str,
                       body: dict[str, Any]) -> None:
    """Profile page, remove a key, step 2."""
    who = _who(p)
    await check_lockout(stores, p.tenant_id, p.user_id, FACTOR)
    await _counted(stores, who, None, device_id, creds.finish_assertion(
        stores, cfg, who, device_id, token=body["webauthnToken"], purpose=creds.DISABLE,
        credential=body["options"]))
    if await stores.devices.delete(p.tenant_id, p.user_id, device_id):
        await after_removal(stores, tenant_id=p.tenant_id, user_id=p.user_id, factor=FACTOR,
                            device_id=device_id)
