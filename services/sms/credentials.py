"""The SMS factor's durable side: phones as devices (the number encrypted, bound to tenant,
user and device; a masked form beside it) and the tenant's permission to use SMS."""

from __future__ import annotations

from shared.http.errors import Conflict, NotFound
from shared.mfa.challenges import Challenge
from shared.mfa.devices import Device, device_aad
from shared.mfa.flow import KindNotAllowed
from shared.mfa.phones import Phone, from_e164
from shared.mfa.policies import Policy
from shared.mfa.registry import SMS
from shared.stores.bundle import Stores

KIND = SMS.name


async def sms_policy(stores: Stores, tenant_id: str) -> Policy:
    """The tenant's policy, when it allows SMS (403 otherwise)."""
    policy = await stores.policies.get(tenant_id)
    if not policy.allows_kind(SMS):
        raise KindNotAllowed(SMS)
    return policy


def phone_of(stores: Stores, device: Device) -> Phone:
    """The device's number, decrypted (bound to tenant, user and device)."""
    return from_e164(stores.cipher.decrypt(device.secret or "", device.aad()).decode())


async def refuse_known_phone(stores: Stores, tenant_id: str, user_id: str, phone: Phone) -> None:
    """409 when the user has this number enrolled already."""
    devices = await stores.devices.list_for_user(tenant_id, user_id, KIND)
    if any(phone_of(stores, d).e164 == phone.e164 for d in devices if d.secret):
        raise Conflict("This phone number is already enrolled", code="ER-MFA-PHONE-ENROLLED")


async def sms_device(stores: Stores, tenant_id: str, user_id: str, device_id: str) -> Device:
    """The user's SMS device; another user's or an unknown one is the same 404."""
    device = await stores.devices.get(tenant_id, user_id, device_id)
    if device is None or device.kind != KIND or not device.secret:
        raise NotFound("Unknown SMS device", code="ER-MFA-DEVICE-NOT-FOUND")
    return device


async def add_device(stores: Stores, ch: Challenge) -> Device:
    """Store the phone an enrollment code proved: once, encrypted, masked beside it."""
    device_id, envelope = ch.data["deviceId"], ch.data["phone"]
    phone = from_e164(stores.cipher.decrypt(
        envelope, device_aad(ch.tenant_id, ch.user_id, device_id)).decode())
    await refuse_known_phone(stores, ch.tenant_id, ch.user_id, phone)
    device = Device(id=device_id, tenant_id=ch.tenant_id, user_id=ch.user_id, kind=KIND,
                    created_at=stores.clock.time(), data={"phoneMasked": phone.masked},
                    secret=envelope)
    await stores.devices.add(device)
    return device
