"""Passkeys: WebAuthn as the first factor, on Frontegg's routes (docs/frontegg-contract.md,
passkeys). No HTTP here.

A passkey is a discoverable credential with user verification required, stored as a device of
kind `passkey` beside (never among) the MFA factors. No token travels with a passkey ceremony:

- login: prelogin hands out a challenge for an empty `allowCredentials` (whatever the body
  names, so nothing tells whether an account exists); postlogin finds that challenge again by
  the `challenge` inside the signed clientDataJSON, takes it once (a replay, or a challenge of
  any other ceremony, finds nothing), and finds the user only from the credential id, which must
  be a stored passkey; a `userHandle`, when sent, must be that passkey's user's.
- registration: the bearer's user has one pending challenge at a time, taken once by verify.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from services.webauthn import ceremony
from services.webauthn.ceremony import CeremonyFailed
from services.webauthn.config import WebAuthnConfig
from services.webauthn.credentials import (
    NAMES,
    CounterRegressed,
    UnknownDevice,
    Who,
    known,
    user_handle,
)
from shared.crypto import token_hash
from shared.http.client_ip import ip_bucket
from shared.http.errors import TooManyRequests
from shared.mfa.devices import Device, new_device_id
from shared.mfa.flow import LoginResult, ensure_allowed, login_body, may_create
from shared.mfa.policies import iso_time
from shared.mfa.registry import PASSKEY as PASSKEY_KIND
from shared.mfa.tokens import Principal
from shared.stores.bundle import Stores

LOGIN, REGISTER = "passkey-login", "passkey-register"
# A passkey login proves possession (hwk) and, with user verification, the user: tell it apart
# from a password + MFA login (["mfa", ...]) by "pwd-less".
PASSKEY = PASSKEY_KIND.name


class InvalidPasskeyChallenge(CeremonyFailed):
    """No live challenge of this ceremony for the signed clientDataJSON (replay, expired, or
    a challenge handed out for something else)."""

    code = "ER-MFA-PASSKEY-CHALLENGE"
    default_message = "Unknown or expired passkey challenge: start again"


def _login_key(challenge: str) -> str:
    return f"passkey:login:{token_hash(challenge)}"


def _register_key(tenant_id: str, user_id: str) -> str:
    return f"passkey:register:{token_hash(tenant_id + chr(0) + user_id)}"


PRELOGIN_PER_MINUTE = 60  # challenges one client address (IPv6: one /64) may start per minute


async def _admit_prelogin(stores: Stores, cfg: WebAuthnConfig, client_ip: str) -> None:
    """429 beyond the per-address rate, or when the deployment already holds its ceiling of
    outstanding login challenges: every prelogin is a record in Redis until it expires, and
    nothing authenticates it. The ceiling counts in windows of the challenge lifetime, so at
    most twice `MFA_WEBAUTHN_PASSKEY_CHALLENGES` are alive at once (this window's and the
    last one's)."""
    for key, cap, window in ((f"passkey:prelogin-ip:{ip_bucket(client_ip)}",
                              PRELOGIN_PER_MINUTE, 60),
                             ("passkey:prelogin-all", cfg.passkey_challenges, cfg.challenge_ttl)):
        if await stores.eph.incr(key, window) > cap:
            raise TooManyRequests("Too many passkey logins started, try again later",
                                  retry_after=int(await stores.eph.ttl(key)) + 1,
                                  code="ER-MFA-PASSKEY-LIMIT")


async def prelogin(stores: Stores, cfg: WebAuthnConfig, *, client_ip: str) -> dict[str, Any]:
    """{options} for navigator.credentials.get() of a discoverable credential (admitted
    first: per client address, and under the deployment's ceiling of outstanding
    challenges)."""
    await _admit_prelogin(stores, cfg, client_ip)
    challenge, options = ceremony.authentication_options(cfg, allow=[],
                                                         user_verification="required")
    await stores.eph.put(_login_key(ceremony.b64url(challenge)),
                         {"purpose": LOGIN, "exp": stores.clock.time() + cfg.challenge_ttl},
                         cfg.challenge_ttl)
    return {"options": options}


def _signed_challenge(credential: dict[str, Any]) -> str:
    """The challenge inside clientDataJSON (only a lookup key: the signature check compares
    it again)."""
    try:
        data = json.loads(ceremony.unb64url(credential["response"]["clientDataJSON"]))
        value = data["challenge"]
    except (ValueError, TypeError, KeyError):
        raise CeremonyFailed() from None
    if not isinstance(value, str) or not 16 <= len(value) <= 200:
        raise CeremonyFailed()
    return value


async def _verified(stores: Stores, cfg: WebAuthnConfig, device: Device,
                    credential: dict[str, Any], challenge: str) -> None:
    """The assertion is by this passkey over our challenge, origin and RP id, with user
    verification; the counter moves forward (one winner)."""
    count = ceremony.verify_assertion(
        cfg, credential, challenge=ceremony.unb64url(challenge),
        public_key=stores.cipher.decrypt(device.secret or "", device.aad()), require_uv=True)
    if ceremony.counter_regressed(device.sign_count, count):
        await stores.audit.record(tenant_id=device.tenant_id, user_id=device.user_id,
                                  factor=PASSKEY, action="counter-regression",
                                  outcome="refused", device_id=device.id,
                                  detail={"stored": device.sign_count, "received": count})
        raise CounterRegressed()
    if not await stores.devices.update_sign_count(device.id, device.sign_count, count,
                                                  stores.clock.time()):
        raise CeremonyFailed()


async def postlogin(stores: Stores, cfg: WebAuthnConfig, *,
                    credential: dict[str, Any]) -> LoginResult:
    """The assertion logs the passkey's user in: Frontegg's login response, with the
    registry's passkey amr."""
    challenge = _signed_challenge(credential)
    rec = await stores.eph.take(_login_key(challenge))
    if rec is None or rec.get("purpose") != LOGIN or rec.get("exp", 0) <= stores.clock.time():
        raise InvalidPasskeyChallenge()
    device = await stores.devices.find_by_lookup(PASSKEY, credential["rawId"])
    if device is None or credential["id"] != credential["rawId"] or not device.secret:
        raise CeremonyFailed()
    await ensure_allowed(stores, PASSKEY_KIND, device.tenant_id)  # the tenant turned them off
    who = Who(tenant_id=device.tenant_id, user_id=device.user_id, email="")
    handle = credential["response"].get("userHandle")
    if handle is not None and handle != ceremony.b64url(user_handle(stores, who)):
        raise CeremonyFailed()  # a credential presented for another user's account
    try:
        await _verified(stores, cfg, device, credential, challenge)
    except CeremonyFailed as e:
        await stores.audit.record(tenant_id=device.tenant_id, user_id=device.user_id,
                                  factor=PASSKEY, action="failure", outcome="refused",
                                  device_id=device.id, detail={"error": e.code})
        raise
    await stores.audit.record(tenant_id=device.tenant_id, user_id=device.user_id,
                              factor=PASSKEY, action="login", outcome="success",
                              device_id=device.id)
    email = await stores.users.email_of(device.tenant_id, device.user_id) or ""
    return LoginResult(body=login_body(stores, tenant_id=device.tenant_id,
                                       user_id=device.user_id, email=email,
                                       amr=list(PASSKEY_KIND.amr)))


def _who(p: Principal) -> Who:
    return Who(tenant_id=p.tenant_id, user_id=p.user_id, email=p.email)


async def begin_registration(stores: Stores, cfg: WebAuthnConfig, *,
                             principal: Principal) -> dict[str, Any]:
    """{options} for navigator.credentials.create() of a discoverable credential; a new call
    replaces the user's pending one."""
    p = principal
    await may_create(stores, p, PASSKEY_KIND)
    existing = await stores.devices.list_for_user(p.tenant_id, p.user_id, PASSKEY)
    challenge, options = ceremony.registration_options(
        cfg, user_handle=user_handle(stores, _who(p)), user_name=p.email or p.user_id,
        exclude=[known(d) for d in existing], user_verification="required", attachment=None,
        discoverable=True)
    await stores.eph.put(_register_key(p.tenant_id, p.user_id),
                         {"purpose": REGISTER, "challenge": ceremony.b64url(challenge),
                          "exp": stores.clock.time() + cfg.challenge_ttl}, cfg.challenge_ttl)
    if p.email:
        await stores.recovery.remember_email(p.tenant_id, p.user_id, p.email)
    return {"options": options}


async def finish_registration(stores: Stores, cfg: WebAuthnConfig, *, principal: Principal,
                              credential: dict[str, Any], device_type: str | None) -> Device:
    """Verify the attestation against the user's pending challenge and store the passkey."""
    p = principal
    await ensure_allowed(stores, PASSKEY_KIND, p.tenant_id)
    rec = await stores.eph.take(_register_key(p.tenant_id, p.user_id))
    if rec is None or rec.get("purpose") != REGISTER or rec.get("exp", 0) <= stores.clock.time():
        raise InvalidPasskeyChallenge()
    new = ceremony.verify_registration(cfg, credential,
                                       challenge=ceremony.unb64url(rec["challenge"]),
                                       require_uv=True)
    if await stores.devices.find_by_lookup(PASSKEY, new.id) is not None:
        raise CeremonyFailed("This passkey is already registered",
                             code="ER-MFA-WEBAUTHN-REGISTERED")
    kind = device_type or ("Platform" if new.attachment == "platform" else "CrossPlatform")
    device = Device(
        id=new_device_id(), tenant_id=p.tenant_id, user_id=p.user_id, kind=PASSKEY,
        created_at=stores.clock.time(), name=f"Passkey ({NAMES[kind].lower()})",
        lookup=new.id, sign_count=new.sign_count,
        data={"deviceType": kind, "transports": list(new.transports), "aaguid": new.aaguid,
              "alg": new.alg, "attachment": new.attachment,
              "backupEligible": new.backup_eligible, "backedUp": new.backed_up})
    device = replace(device, secret=stores.cipher.encrypt(new.public_key, device.aad()))
    await stores.devices.add(device)
    await stores.audit.record(tenant_id=p.tenant_id, user_id=p.user_id, factor=PASSKEY,
                              action="enroll", outcome="success", device_id=device.id)
    return device


async def list_passkeys(stores: Stores, *, principal: Principal) -> dict[str, Any]:
    """{devices: [{id, deviceType, createdAt}]}, plus our name and lastUsedAt."""
    p = principal
    devices = await stores.devices.list_for_user(p.tenant_id, p.user_id, PASSKEY)
    return {"devices": [
        {"id": d.id, "deviceType": d.data.get("deviceType", "CrossPlatform"),
         "createdAt": iso_time(d.created_at), "name": d.name,
         "lastUsedAt": iso_time(d.last_used_at) if d.last_used_at else None}
        for d in devices]}


async def delete_passkey(stores: Stores, *, principal: Principal, device_id: str) -> None:
    """Remove one of the user's passkeys (404 for anything else)."""
    p = principal
    device = await stores.devices.get(p.tenant_id, p.user_id, device_id)
    if device is None or device.kind != PASSKEY:
        raise UnknownDevice()
    if await stores.devices.delete(p.tenant_id, p.user_id, device_id):
        await stores.audit.record(tenant_id=p.tenant_id, user_id=p.user_id, factor=PASSKEY,
                                  action="disable", outcome="success", device_id=device_id)
