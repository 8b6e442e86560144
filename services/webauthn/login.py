"""The WebAuthn factor mid-login (authorized by the mfaToken): forced enrollment and the
second factor. No HTTP here; every ceremony's finish runs in the attempt the route reserved
(shared.mfa.flow), which counts it against the mfaToken and the user's WebAuthn lockout."""

from __future__ import annotations

from typing import Any

from services.webauthn import credentials
from services.webauthn.config import WebAuthnConfig
from services.webauthn.credentials import Ceremony, Who
from shared.mfa.flow import (
    Attempt,
    InvalidMfaToken,
    LoginResult,
    after_enrollment,
    ensure_allowed,
    pending_secret,
    require_unenrolled,
)
from shared.mfa.registry import WEBAUTHN
from shared.mfa.sessions import MfaSession
from shared.stores.bundle import Stores


def _who(s: MfaSession) -> Who:
    return Who(tenant_id=s.tenant_id, user_id=s.user_id, email=s.email)


async def pre_enroll(stores: Stores, cfg: WebAuthnConfig, *, session: MfaSession) -> Ceremony:
    """Forced enrollment, step 1: registration options."""
    await require_unenrolled(stores, session)
    return await credentials.begin_enroll(stores, cfg, _who(session), bind=session.key)


async def enroll(stores: Stores, cfg: WebAuthnConfig, *, attempt: Attempt, webauthn_token: str,
                 device_type: str | None, credential: dict[str, Any],
                 remember_device: bool) -> LoginResult:
    """Forced enrollment, step 2: store the credential and finish the login."""
    s = attempt.session
    assert s is not None
    await require_unenrolled(stores, s)
    device = await credentials.finish_enroll(stores, cfg, _who(s), token=webauthn_token,
                                             device_type=device_type, credential=credential,
                                             bind=s.key)
    code = await after_enrollment(stores, tenant_id=s.tenant_id, user_id=s.user_id,
                                  email=s.email, factor=attempt.factor, device_id=device.id,
                                  pending_recovery=pending_secret(stores, s,
                                                                  s.pending.recovery_code))
    try:
        return await attempt.login(device_id=device.id, remember_device=remember_device,
                                   recovery_code=code)
    except InvalidMfaToken:
        # A parallel request finished this login first: this enrollment does not count.
        await stores.devices.delete(s.tenant_id, s.user_id, device.id)
        raise


async def pre_verify(stores: Stores, cfg: WebAuthnConfig, *, session: MfaSession,
                     device_id: str) -> Ceremony:
    """The second factor, step 1: assertion options for one device (not while the tenant
    has both WebAuthn strategies off)."""
    await ensure_allowed(stores, WEBAUTHN, session.tenant_id, session)
    device = await credentials.device_of(stores, _who(session), device_id)
    return await credentials.begin_assertion(stores, cfg, _who(session), device,
                                             purpose=credentials.VERIFY, bind=session.key)


async def verify(stores: Stores, cfg: WebAuthnConfig, *, attempt: Attempt, device_id: str,
                 webauthn_token: str, credential: dict[str, Any],
                 remember_device: bool) -> LoginResult:
    """The second factor, step 2: the assertion finishes the login."""
    s = attempt.session
    assert s is not None
    attempt.device_id = device_id
    await ensure_allowed(stores, WEBAUTHN, s.tenant_id, s)
    device = await credentials.finish_assertion(stores, cfg, _who(s), device_id,
                                                token=webauthn_token, purpose=credentials.VERIFY,
                                                credential=credential, bind=s.key)
    return await attempt.login(device_id=device.id, remember_device=remember_device)
