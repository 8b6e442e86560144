"""The TOTP factor mid-login (authorized by the mfaToken): enroll, verify, and the forced
enrollment that the login box finishes through /user/mfa/verify. No HTTP here."""

from __future__ import annotations

import asyncio

from services.totp.config import TotpConfig
from services.totp.otp import match_step, normalise_code, totp_for
from services.totp.proof import find_proof, refuse, refuse_replay, spend, totp_devices
from services.totp.store import KIND, PendingSeeds, add_device
from shared.devices import Device
from shared.errors import BadRequest, Forbidden
from shared.flow import (
    LoginResult,
    after_enrollment,
    check_lockout,
    complete_login,
    require_unenrolled,
)
from shared.mfa_session import MfaSession
from shared.otpauth import enrollment, new_seed
from shared.stores import Stores

STRATEGY = "AuthenticatorApp"


class NotAllowed(Forbidden):
    """The tenant's policy does not offer the authenticator app."""

    code = "ER-MFA-STRATEGY-DISABLED"
    default_message = "The authenticator app is not allowed by the MFA policy"


class NoEnrollment(BadRequest):
    """A code for an enrollment that was never started (or has expired)."""

    code = "ER-MFA-NO-ENROLLMENT"
    default_message = "No authenticator app enrollment in progress"


async def ensure_allowed(stores: Stores, tenant_id: str) -> None:
    """403 unless the tenant's policy offers the authenticator app."""
    if not (await stores.policies.get(tenant_id)).allows(STRATEGY):
        raise NotAllowed()


async def _ensure_may_enroll(stores: Stores, session: MfaSession,
                             devices: list[Device] | None = None) -> None:
    """The policy offers the app, and the user has no factor yet (shared.flow)."""
    await ensure_allowed(stores, session.tenant_id)
    await require_unenrolled(stores, session, devices)


async def pre_enroll(stores: Stores, cfg: TotpConfig, session: MfaSession) -> dict[str, str]:
    """{qrCode, secret}: the session start's pending seed if it gave one, else a new one."""
    await _ensure_may_enroll(stores, session)
    pending = PendingSeeds(stores, cfg.enroll_ttl)
    seed = await pending.for_session(session)
    if seed is None:
        seed = new_seed()
        await pending.put_for_session(session, seed)
    return enrollment(seed, account=session.email, issuer=cfg.issuer)


async def enroll(stores: Stores, cfg: TotpConfig, session: MfaSession, code: str, *,
                 remember: bool) -> LoginResult:
    """authenticator/enroll/verify: prove the pending seed, store the device, log in."""
    await check_lockout(stores, session.tenant_id, session.user_id, KIND)
    await _ensure_may_enroll(stores, session)
    return await _finish_enrollment(stores, cfg, session, code, remember=remember)


async def _finish_enrollment(stores: Stores, cfg: TotpConfig, session: MfaSession, code: str,
                             *, remember: bool) -> LoginResult:
    t, u = session.tenant_id, session.user_id
    pending = PendingSeeds(stores, cfg.enroll_ttl)
    seed = await pending.for_session(session)
    if seed is None:
        raise NoEnrollment()
    step = match_step(totp_for(seed), normalise_code(code), for_time=stores.clock.now(),
                      window=cfg.window)
    if step is None:
        await refuse(stores, tenant_id=t, user_id=u, session=session)
    if not await pending.claim_session_enrollment(session):
        await refuse_replay(stores, tenant_id=t, user_id=u)
    device = await add_device(stores, tenant_id=t, user_id=u, seed=seed, step=step)
    recovery = await after_enrollment(stores, tenant_id=t, user_id=u, email=session.email,
                                      factor=KIND, device_id=device.id,
                                      pending_recovery=pending.recovery_for_session(session))
    return await complete_login(stores, session, factor=KIND, device_id=device.id,
                                remember_device=remember, recovery_code=recovery)


async def verify(stores: Stores, cfg: TotpConfig, session: MfaSession, code: str, *,
                 remember: bool, device_id: str | None = None) -> LoginResult:
    """A login code: for one device (authenticator/{id}/verify) or for any of the user's
    authenticators (/user/mfa/verify, which also finishes a forced enrollment)."""
    t, u = session.tenant_id, session.user_id
    if device_id is None:
        # The lockout check (Redis) and the device read (Postgres) overlap: one wait, not two.
        _, every = await asyncio.gather(check_lockout(stores, t, u, KIND),
                                        stores.devices.list_for_user(t, u))
        if not every and session.extra.get("pendingTotp"):
            await _ensure_may_enroll(stores, session, every)
            return await _finish_enrollment(stores, cfg, session, code, remember=remember)
        devices = totp_devices(list(every))
    else:
        _, device = await asyncio.gather(check_lockout(stores, t, u, KIND),
                                         stores.devices.get(t, u, device_id))
        devices = totp_devices([device])
    proof = find_proof(stores, cfg, devices, code)
    if proof is None:
        await refuse(stores, tenant_id=t, user_id=u, session=session,
                     device_id=devices[0].id if devices and device_id else None)
    if not await spend(stores, proof):
        await refuse_replay(stores, tenant_id=t, user_id=u, device_id=proof.device.id)
    return await complete_login(stores, session, factor=KIND, device_id=proof.device.id,
                                remember_device=remember)
