"""The TOTP factor mid-login (authorized by the mfaToken): enroll, verify, and the forced
enrollment that the login box finishes through /user/mfa/verify. No HTTP here."""

from __future__ import annotations

from services.totp.config import TotpConfig
from services.totp.credentials import KIND, PendingSeeds, add_device
from services.totp.otp import match_step, normalise_code, totp_for
from services.totp.proof import (
    find_proof,
    spend,
    totp_devices,
    wrong_code,
    wrong_enrollment_code,
)
from shared.http.errors import BadRequest
from shared.mfa.devices import Device
from shared.mfa.flow import (
    Attempt,
    LoginResult,
    ReplayedProof,
    after_enrollment,
    ensure_allowed,
    pending_secret,
    require_unenrolled,
)
from shared.mfa.otpauth import Enrollment, enrollment, new_seed
from shared.mfa.registry import TOTP
from shared.mfa.sessions import MfaSession
from shared.stores.bundle import Stores


class NoEnrollment(BadRequest):
    """A code for an enrollment that was never started (or has expired)."""

    code = "ER-MFA-NO-ENROLLMENT"
    default_message = "No authenticator app enrollment in progress"


async def _ensure_may_enroll(stores: Stores, session: MfaSession,
                             devices: list[Device] | None = None) -> None:
    """The policy offers the app, and the user has no factor yet (shared.mfa.flow)."""
    await ensure_allowed(stores, TOTP, session.tenant_id)
    await require_unenrolled(stores, session, devices)


async def pre_enroll(stores: Stores, cfg: TotpConfig, *, session: MfaSession) -> Enrollment:
    """{qrCode, secret}: the session start's pending seed if it gave one, else a new one."""
    await _ensure_may_enroll(stores, session)
    pending = PendingSeeds(stores, cfg.enroll_ttl)
    seed = await pending.for_session(session)
    if seed is None:
        seed = new_seed()
        await pending.put_for_session(session, seed)
    return enrollment(seed, account=session.email, issuer=await stores.configs.mfa_setting(
        session.tenant_id, "authenticationApp", "serviceName", cfg.issuer))


async def enroll(stores: Stores, cfg: TotpConfig, *, attempt: Attempt, code: str,
                 remember: bool) -> LoginResult:
    """authenticator/enroll/verify: prove the pending seed, store the device, log in."""
    assert attempt.session is not None
    await _ensure_may_enroll(stores, attempt.session)
    return await _finish_enrollment(stores, cfg, attempt, code, remember=remember)


async def _finish_enrollment(stores: Stores, cfg: TotpConfig, attempt: Attempt, code: str, *,
                             remember: bool) -> LoginResult:
    session = attempt.session
    assert session is not None
    pending = PendingSeeds(stores, cfg.enroll_ttl)
    seed = await pending.for_session(session)
    if seed is None:
        raise NoEnrollment()
    step = match_step(totp_for(seed), normalise_code(code), for_time=stores.clock.now(),
                      window=cfg.window)
    if step is None:
        raise wrong_enrollment_code(stores, cfg, seed, code)
    if not await pending.claim_session_enrollment(session):
        raise ReplayedProof()
    t, u = session.tenant_id, session.user_id
    device = await add_device(stores, tenant_id=t, user_id=u, seed=seed, step=step)
    recovery = await after_enrollment(
        stores, tenant_id=t, user_id=u, email=session.email, factor=KIND, device_id=device.id,
        pending_recovery=pending_secret(stores, session, session.pending.recovery_code))
    return await attempt.login(device_id=device.id, remember_device=remember,
                               recovery_code=recovery)


async def verify(stores: Stores, cfg: TotpConfig, *, attempt: Attempt, code: str,
                 remember: bool, device_id: str | None = None) -> LoginResult:
    """A login code: for one device (authenticator/{id}/verify) or for any of the user's
    authenticators (/user/mfa/verify, which also finishes a forced enrollment)."""
    t, u = attempt.tenant_id, attempt.user_id
    session = attempt.session
    assert session is not None
    # The session start's rows (apps and HOTP tokens): no Postgres read.
    carried = None if session.carried is None else totp_devices(list(session.carried))
    if device_id is None:
        if carried and not session.pending.totp_seed:
            devices = carried
        else:
            every = await stores.devices.list_for_user(t, u)
            if not every and session.pending.totp_seed:
                await _ensure_may_enroll(stores, session, every)
                return await _finish_enrollment(stores, cfg, attempt, code, remember=remember)
            devices = totp_devices(list(every))
    else:
        if carried is not None:
            devices = [d for d in carried if d.id == device_id]
        else:
            devices = totp_devices([await stores.devices.get(t, u, device_id)])
        attempt.device_id = devices[0].id if devices else None
    # Switched off by the tenant's strategies: the app no longer logs in (M7).
    await ensure_allowed(stores, TOTP, t, session)
    proof = find_proof(stores, cfg, devices, code)
    if proof is None:
        raise wrong_code(stores, cfg, devices, code)
    attempt.factor = proof.device.kind  # the kind proven names the success (audit, amr)
    if not await spend(stores, proof, attempt.event(device_id=proof.device.id), attempt.use()):
        attempt.device_id = proof.device.id
        raise ReplayedProof()
    return await attempt.login(device_id=proof.device.id, remember_device=remember,
                               audited=True)
