"""The SMS factor's core: the steps every flow shares, and the logged-in user's enroll and
disable (the profile page). The mid-login flows are in login.py. No HTTP here.

Every otcToken is bound to the user and to a purpose that names the flow, the device and (mid
login) the MFA session, so one flow's token fails in any other, like a wrong code."""

from __future__ import annotations

from typing import Any

from services.sms.delivery import Requester, Send, Sender, phone_tag, send_code
from services.sms.phone import Phone, check_pattern, from_e164, parse_phone
from shared.challenges import Challenge, InvalidChallenge, UnknownChallenge
from shared.devices import Device, device_aad, new_device_id
from shared.errors import BadRequest, Conflict, Forbidden, NotFound
from shared.flow import after_enrollment, after_removal, check_lockout, record_failure
from shared.mfa_session import MfaSession
from shared.policies import Policy
from shared.stores import Stores
from shared.tokens import Principal

FACTOR = "sms"
USERS_ENROLL = "sms-enroll"


def _disable(device_id: str) -> str:
    return f"sms-disable:{device_id}"


async def sms_policy(stores: Stores, tenant_id: str) -> Policy:
    """The tenant's policy, when it allows SMS (403 otherwise)."""
    policy = await stores.policies.get(tenant_id)
    if not policy.allows("SMS"):
        raise Forbidden("SMS is not an allowed MFA method for this account",
                        code="ER-MFA-SMS-NOT-ALLOWED")
    return policy


def phone_of(stores: Stores, device: Device) -> Phone:
    """The device's number, decrypted (bound to tenant, user and device)."""
    return from_e164(stores.cipher.decrypt(device.secret or "", device.aad()).decode())


async def _has_phone(stores: Stores, tenant_id: str, user_id: str, phone: Phone) -> bool:
    devices = await stores.devices.list_for_user(tenant_id, user_id, FACTOR)
    return any(phone_of(stores, d).e164 == phone.e164 for d in devices if d.secret)


async def sms_device(stores: Stores, tenant_id: str, user_id: str, device_id: str) -> Device:
    """The user's SMS device; another user's or an unknown one is the same 404."""
    device = await stores.devices.get(tenant_id, user_id, device_id)
    if device is None or device.kind != FACTOR or not device.secret:
        raise NotFound("Unknown SMS device", code="ER-MFA-DEVICE-NOT-FOUND")
    return device


async def verify(stores: Stores, otc: str, code: str, *, purpose: str, tenant_id: str,
                 user_id: str, session: MfaSession | None = None,
                 device_id: str | None = None) -> Challenge:
    """Check the code; a wrong one counts against the mfaToken and the factor's lockout."""
    await check_lockout(stores, tenant_id, user_id, FACTOR)
    try:
        return await stores.challenges.verify(otc, code, purpose=purpose, tenant_id=tenant_id,
                                              user_id=user_id)
    except UnknownChallenge:
        raise  # a used, unknown or lost-race token: no code was tried, nothing to count
    except InvalidChallenge:
        await record_failure(stores, tenant_id=tenant_id, user_id=user_id, factor=FACTOR,
                             session=session, device_id=device_id)
        raise


async def start_enroll(stores: Stores, sender: Sender, who: Requester, *, tenant_id: str,
                       user_id: str, raw_phone: str, purpose: str) -> dict[str, Any]:
    """Validate the number for the tenant, send a code; the full number goes back only here."""
    await check_lockout(stores, tenant_id, user_id, FACTOR)
    policy = await sms_policy(stores, tenant_id)
    phone = parse_phone(raw_phone, default_region=sender.config.default_region)
    check_pattern(phone, policy.phoneNumberRegexp)
    if await _has_phone(stores, tenant_id, user_id, phone):
        raise Conflict("This phone number is already enrolled", code="ER-MFA-PHONE-ENROLLED")
    device_id = new_device_id()
    data = {"deviceId": device_id, "phone": stores.cipher.encrypt(
        phone.e164.encode(), device_aad(tenant_id, user_id, device_id))}
    token = await send_code(stores, sender, who, Send(
        tenant_id=tenant_id, user_id=user_id, phone=phone, purpose="enroll",
        challenge_purpose=purpose, cooldown_key=f"sms:enroll:{phone_tag(stores, phone)}",
        device_id=device_id, data=data))
    return {"otcToken": token, "phoneNumber": phone.e164}


async def add_device(stores: Stores, ch: Challenge) -> Device:
    """Store the proven phone: once, encrypted, with its masked form beside it."""
    device_id, envelope = ch.data["deviceId"], ch.data["phone"]
    phone = from_e164(stores.cipher.decrypt(
        envelope, device_aad(ch.tenant_id, ch.user_id, device_id)).decode())
    if await _has_phone(stores, ch.tenant_id, ch.user_id, phone):
        raise Conflict("This phone number is already enrolled", code="ER-MFA-PHONE-ENROLLED")
    device = Device(id=device_id, tenant_id=ch.tenant_id, user_id=ch.user_id, kind=FACTOR,
                    created_at=stores.clock.time(), data={"phoneMasked": phone.masked},
                    secret=envelope)
    await stores.devices.add(device)
    return device


async def send_to_device(stores: Stores, sender: Sender, who: Requester, device: Device, *,
                         purpose: str, challenge_purpose: str) -> dict[str, Any]:
    """Send a code to an enrolled phone (cooldown per device); the number goes back masked."""
    phone = phone_of(stores, device)
    token = await send_code(stores, sender, who, Send(
        tenant_id=device.tenant_id, user_id=device.user_id, phone=phone, purpose=purpose,
        challenge_purpose=challenge_purpose, cooldown_key=f"sms:device:{device.id}",
        device_id=device.id))
    return {"otcToken": token, "phoneNumber": phone.masked}


# --- the logged-in user (users routes, authorized by the Bearer token) ---

async def enroll_start(stores: Stores, sender: Sender, who: Requester, p: Principal, *,
                       phone_number: str) -> dict[str, Any]:
    """Profile page: send a code to a new number."""
    return await start_enroll(stores, sender, who, tenant_id=p.tenant_id, user_id=p.user_id,
                              raw_phone=phone_number, purpose=USERS_ENROLL)


async def enroll_verify(stores: Stores, p: Principal, *, otc_token: str,
                        code: str) -> dict[str, Any]:
    """Profile page: the code proves the phone; the recovery code on a first enrollment."""
    ch = await verify(stores, otc_token, code, purpose=USERS_ENROLL, tenant_id=p.tenant_id,
                      user_id=p.user_id)
    device = await add_device(stores, ch)
    recovery = await after_enrollment(stores, tenant_id=p.tenant_id, user_id=p.user_id,
                                      email=p.email, factor=FACTOR, device_id=device.id)
    return {"recoveryCode": recovery} if recovery else {}


async def disable_start(stores: Stores, sender: Sender, who: Requester, p: Principal, *,
                        device_id: str) -> dict[str, Any]:
    """Profile page: send a code to the phone about to be removed."""
    await check_lockout(stores, p.tenant_id, p.user_id, FACTOR)
    device = await sms_device(stores, p.tenant_id, p.user_id, device_id)
    return await send_to_device(stores, sender, who, device, purpose="disable",
                                challenge_purpose=_disable(device.id))


async def _require_other_factor(stores: Stores, p: Principal, device: Device) -> None:
    """Removal without a code: only for a user who keeps another factor and whose session
    itself passed MFA (Frontegg's client: "when the user has more than one MFA device")."""
    policy = await stores.policies.get(p.tenant_id)
    others = [d for d in await stores.devices.list_for_user(p.tenant_id, p.user_id)
              if d.id != device.id]
    keeps_one = bool(others) or (bool(p.email) and policy.allows("EmailCode"))
    if not keeps_one or "mfa" not in (p.claims.get("amr") or []):
        raise BadRequest("otcToken and code are required to remove this phone",
                         code="ER-MFA-CODE-REQUIRED")


async def disable_verify(stores: Stores, p: Principal, *, device_id: str,
                         otc_token: str | None, code: str | None) -> None:
    """Profile page: remove the phone, with its code (or without, see above)."""
    device = await sms_device(stores, p.tenant_id, p.user_id, device_id)
    if otc_token or code:
        await verify(stores, otc_token or "", code or "", purpose=_disable(device.id),
                     tenant_id=p.tenant_id, user_id=p.user_id, device_id=device.id)
    else:
        await _require_other_factor(stores, p, device)
    if not await stores.devices.delete(p.tenant_id, p.user_id, device.id):
        raise NotFound("Unknown SMS device", code="ER-MFA-DEVICE-NOT-FOUND")
    await after_removal(stores, tenant_id=p.tenant_id, user_id=p.user_id, factor=FACTOR,
                        device_id=device.id)
