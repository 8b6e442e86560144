"""The TOTP factor for a logged-in user (Bearer): enroll, verify the enrollment, disable, and
the deprecated disable that also takes the recovery code. No HTTP here."""

from __future__ import annotations

from typing import Any

from services.totp.config import TotpConfig
from services.totp.factor import NoEnrollment, ensure_allowed
from services.totp.otp import DIGITS, match_step, normalise_code, totp_for
from services.totp.proof import find_proof, refuse, refuse_replay, spend, totp_devices
from services.totp.store import KIND, PendingSeeds, add_device
from shared.devices import Device
from shared.flow import after_enrollment, after_removal, check_lockout
from shared.otpauth import enrollment, new_seed
from shared.stores import Stores
from shared.tokens import Principal


async def pre_enroll(stores: Stores, cfg: TotpConfig, p: Principal) -> dict[str, str]:
    """{qrCode, secret} for a new seed kept (encrypted, short TTL) until a code proves it."""
    await ensure_allowed(stores, p.tenant_id)
    seed = new_seed()
    await PendingSeeds(stores, cfg.enroll_ttl).put_for_user(p.tenant_id, p.user_id, seed)
    return enrollment(seed, account=p.email or p.user_id, issuer=cfg.issuer)


async def enroll(stores: Stores, cfg: TotpConfig, p: Principal, code: str) -> dict[str, Any]:
    """Prove the pending seed with a code; {recoveryCode} on the user's first factor, else {}."""
    t, u = p.tenant_id, p.user_id
    await check_lockout(stores, t, u, KIND)
    pending = PendingSeeds(stores, cfg.enroll_ttl)
    found = await pending.get_for_user(t, u)
    if found is None:
        raise NoEnrollment()
    seed, envelope = found
    step = match_step(totp_for(seed), normalise_code(code), for_time=stores.clock.now(),
                      window=cfg.window)
    if step is None:
        await refuse(stores, tenant_id=t, user_id=u)
    if not await pending.take_for_user(t, u, envelope):
        await refuse_replay(stores, tenant_id=t, user_id=u)
    device = await add_device(stores, tenant_id=t, user_id=u, seed=seed, step=step)
    await stores.lockout.success(t, u, KIND)
    recovery = await after_enrollment(stores, tenant_id=t, user_id=u, email=p.email,
                                      factor=KIND, device_id=device.id)
    return {"recoveryCode": recovery} if recovery else {}


async def disable_device(stores: Stores, cfg: TotpConfig, p: Principal, device_id: str,
                         code: str) -> None:
    """authenticator/{id}/disable/verify: a current code of that very device removes it."""
    t, u = p.tenant_id, p.user_id
    await check_lockout(stores, t, u, KIND)
    devices = totp_devices([await stores.devices.get(t, u, device_id)])
    await _disable_by_code(stores, cfg, p, devices, code)


async def disable_any(stores: Stores, cfg: TotpConfig, p: Principal, token: str) -> None:
    """Deprecated /users/v1/mfa/disable: a code of one of the user's authenticators removes
    that one; the recovery code (single use) removes all of them."""
    t, u = p.tenant_id, p.user_id
    await check_lockout(stores, t, u, KIND)
    devices = await stores.devices.list_for_user(t, u, KIND)
    code = normalise_code(token)
    if code.isdigit() and len(code) == DIGITS:
        await _disable_by_code(stores, cfg, p, devices, code)
        return
    if not devices or not await stores.recovery.redeem_for_user(t, u, token):
        await refuse(stores, tenant_id=t, user_id=u)
    await stores.audit.record(tenant_id=t, user_id=u, factor=KIND, action="recovery",
                              outcome="success", detail={"devicesRemoved": len(devices)})
    await _remove(stores, p, devices)


async def _disable_by_code(stores: Stores, cfg: TotpConfig, p: Principal,
                           devices: list[Device], code: str) -> None:
    proof = find_proof(stores, cfg, devices, code)
    if proof is None:
        await refuse(stores, tenant_id=p.tenant_id, user_id=p.user_id)
    if not await spend(stores, proof):
        await refuse_replay(stores, tenant_id=p.tenant_id, user_id=p.user_id,
                            device_id=proof.device.id)
    await _remove(stores, p, [proof.device])


async def _remove(stores: Stores, p: Principal, devices: list[Device]) -> None:
    for d in devices:
        if await stores.devices.delete(p.tenant_id, p.user_id, d.id):
            await after_removal(stores, tenant_id=p.tenant_id, user_id=p.user_id, factor=KIND,
                                device_id=d.id)
    await stores.lockout.success(p.tenant_id, p.user_id, KIND)
