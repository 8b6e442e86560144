"""The TOTP factor for a logged-in user (Bearer): enroll, verify the enrollment, disable, and
the deprecated disable that also takes the recovery code. No HTTP here; every proof runs in the
attempt the route reserved (shared.mfa.flow), which counts against the user's TOTP lockout."""

from __future__ import annotations

from services.totp.config import TotpConfig
from services.totp.credentials import KIND, PendingSeeds, add_device
from services.totp.login import NoEnrollment
from services.totp.otp import CODE_LENGTHS, match_step, normalise_code, totp_for
from services.totp.proof import (
    find_proof,
    spend,
    totp_devices,
    wrong_code,
    wrong_enrollment_code,
)
from shared.mfa.challenges import InvalidChallenge
from shared.mfa.devices import Device
from shared.mfa.flow import (
    Attempt,
    Enrolled,
    ReplayedProof,
    after_enrollment,
    after_removal,
    may_create,
)
from shared.mfa.otpauth import Enrollment, enrollment, new_seed
from shared.mfa.registry import TOTP
from shared.mfa.tokens import Principal
from shared.stores.bundle import Stores


async def pre_enroll(stores: Stores, cfg: TotpConfig, *, principal: Principal) -> Enrollment:
    """{qrCode, secret} for a new seed kept (encrypted, short TTL) until a code proves it."""
    p = principal
    await may_create(stores, p, TOTP)
    seed = new_seed()
    await PendingSeeds(stores, cfg.enroll_ttl).put_for_user(p.tenant_id, p.user_id, seed)
    return enrollment(seed, account=p.email or p.user_id, issuer=await stores.configs.mfa_setting(
        p.tenant_id, "authenticationApp", "serviceName", cfg.issuer))


async def enroll(stores: Stores, cfg: TotpConfig, *, attempt: Attempt, email: str,
                 code: str) -> Enrolled:
    """Prove the pending seed with a code; the recovery code on the user's first factor."""
    t, u = attempt.tenant_id, attempt.user_id
    pending = PendingSeeds(stores, cfg.enroll_ttl)
    found = await pending.get_for_user(t, u)
    if found is None:
        raise NoEnrollment()
    seed, envelope = found
    step = match_step(totp_for(seed), normalise_code(code), for_time=stores.clock.now(),
                      window=cfg.window)
    if step is None:
        raise wrong_enrollment_code(stores, cfg, seed, code)
    if not await pending.take_for_user(t, u, envelope):
        raise ReplayedProof()
    device = await add_device(stores, tenant_id=t, user_id=u, seed=seed, step=step)
    recovery = await after_enrollment(stores, tenant_id=t, user_id=u, email=email,
                                      factor=KIND, device_id=device.id)
    await attempt.succeed()
    return Enrolled(recovery)


async def disable_device(stores: Stores, cfg: TotpConfig, *, attempt: Attempt, device_id: str,
                         code: str) -> None:
    """authenticator/{id}/disable/verify: a current code of that very device removes it."""
    device = await stores.devices.get(attempt.tenant_id, attempt.user_id, device_id)
    await _disable_by_code(stores, cfg, attempt, totp_devices([device]), code)


async def disable_any(stores: Stores, cfg: TotpConfig, *, attempt: Attempt, token: str) -> None:
    """Deprecated /users/v1/mfa/disable: a code of one of the user's authenticators removes
    that one; the recovery code (single use) removes all of them."""
    t, u = attempt.tenant_id, attempt.user_id
    devices = totp_devices(list(await stores.devices.list_for_user(t, u)))
    code = normalise_code(token)
    if code.isdigit() and len(code) in CODE_LENGTHS:
        await _disable_by_code(stores, cfg, attempt, devices, code)
        return
    if not devices or not await stores.recovery.redeem_for_user(t, u, token):
        raise InvalidChallenge()
    await attempt.succeed(attempt.event(action="recovery",
                                        detail={"devicesRemoved": len(devices)}))
    await _remove(stores, attempt, devices)


async def _disable_by_code(stores: Stores, cfg: TotpConfig, attempt: Attempt,
                           devices: list[Device], code: str) -> None:
    proof = find_proof(stores, cfg, devices, code)
    if proof is None:
        raise wrong_code(stores, cfg, devices, code)
    attempt.device_id, attempt.factor = proof.device.id, proof.device.kind
    if not await spend(stores, proof, attempt.event()):
        raise ReplayedProof()
    await attempt.succeed()
    await _remove(stores, attempt, [proof.device])


async def _remove(stores: Stores, attempt: Attempt, devices: list[Device]) -> None:
    for d in devices:
        if await stores.devices.delete(attempt.tenant_id, attempt.user_id, d.id):
            await after_removal(stores, tenant_id=attempt.tenant_id, user_id=attempt.user_id,
                                factor=d.kind, device_id=d.id)
