"""The SMS factor for a logged-in user (Bearer, the profile page): add a phone and remove one.
No HTTP here; every code is checked in the attempt the route reserved (shared.mfa.flow)."""

from __future__ import annotations

from services.sms.credentials import add_device, sms_device
from services.sms.delivery import CodeSent, Requester, Sender, send_enroll_code, send_to_device
from shared.http.errors import BadRequest, NotFound
from shared.mfa.flow import Attempt, Enrolled, after_enrollment, after_removal, may_create
from shared.mfa.registry import EMAIL, SMS
from shared.mfa.tokens import Principal
from shared.stores.bundle import Stores

ENROLL = "sms-enroll"


def _disable(device_id: str) -> str:
    return f"sms-disable:{device_id}"


async def enroll_start(stores: Stores, sender: Sender, who: Requester, *, principal: Principal,
                       phone_number: str) -> CodeSent:
    """Send a code to a new number."""
    await may_create(stores, principal, SMS)
    return await send_enroll_code(stores, sender, who, tenant_id=principal.tenant_id,
                                  user_id=principal.user_id, raw_phone=phone_number,
                                  purpose=ENROLL)


async def enroll_verify(stores: Stores, *, attempt: Attempt, email: str, otc_token: str,
                        code: str) -> Enrolled:
    """The code proves the phone; the recovery code on a first enrollment."""
    t, u = attempt.tenant_id, attempt.user_id
    ch = await stores.challenges.verify(otc_token, code, purpose=ENROLL, tenant_id=t,
                                        user_id=u)
    device = await add_device(stores, ch)
    recovery = await after_enrollment(stores, tenant_id=t, user_id=u, email=email,
                                      factor=attempt.factor, device_id=device.id)
    await attempt.succeed()
    return Enrolled(recovery)


async def disable_start(stores: Stores, sender: Sender, who: Requester, *, principal: Principal,
                        device_id: str) -> CodeSent:
    """Send a code to the phone about to be removed."""
    device = await sms_device(stores, principal.tenant_id, principal.user_id, device_id)
    return await send_to_device(stores, sender, who, device, purpose="disable",
                                challenge_purpose=_disable(device.id))


async def _require_other_factor(stores: Stores, p: Principal, device_id: str) -> None:
    """Removal without a code: only for a user who keeps another factor and whose session
    itself passed MFA (Frontegg's client: "when the user has more than one MFA device")."""
    policy = await stores.policies.get(p.tenant_id)
    others = [d for d in await stores.devices.list_for_user(p.tenant_id, p.user_id)
              if d.id != device_id]
    keeps_one = bool(others) or (bool(p.email) and policy.allows_kind(EMAIL))
    if not keeps_one or "mfa" not in (p.claims.get("amr") or []):
        raise BadRequest("otcToken and code are required to remove this phone",
                         code="ER-MFA-CODE-REQUIRED")


async def disable_verify(stores: Stores, *, attempt: Attempt, principal: Principal,
                         device_id: str, otc_token: str | None, code: str | None) -> None:
    """Remove the phone, with its code (or without, see above)."""
    t, u = attempt.tenant_id, attempt.user_id
    device = await sms_device(stores, t, u, device_id)
    attempt.device_id = device.id
    if otc_token or code:
        await stores.challenges.verify(otc_token or "", code or "",
                                       purpose=_disable(device.id), tenant_id=t, user_id=u)
    else:
        await _require_other_factor(stores, principal, device.id)
    if not await stores.devices.delete(t, u, device.id):
        raise NotFound("Unknown SMS device", code="ER-MFA-DEVICE-NOT-FOUND")
    await attempt.succeed()
    await after_removal(stores, tenant_id=t, user_id=u, factor=attempt.factor,
                        device_id=device.id)
