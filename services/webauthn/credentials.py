"""A user's WebAuthn credentials: each ceremony started and finished against the stores.

Every ceremony runs behind a webauthnToken, a code-less challenge from `stores.challenges`: bound
to its purpose, the user, the device (assertions) and, mid-login, the MFA session; taken exactly
once before the credential is looked at, so a replay or a parallel second try finds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from services.webauthn import ceremony
from services.webauthn.ceremony import CeremonyFailed, KnownCredential
from services.webauthn.config import WebAuthnConfig
from shared.http.errors import Forbidden, NotFound
from shared.mfa.challenges import Challenge, InvalidChallenge
from shared.mfa.devices import Device, new_device_id
from shared.mfa.policies import Policy
from shared.mfa.registry import WEBAUTHN
from shared.stores.bundle import Stores

KIND = WEBAUTHN.name
ENROLL, VERIFY, DISABLE = "webauthn-enroll", "webauthn-verify", "webauthn-disable"
NAMES = {"Platform": "Platform authenticator", "CrossPlatform": "Security key"}


@dataclass(frozen=True)
class Ceremony:
    """A started ceremony: the webauthnToken that finishes it and the options for
    navigator.credentials.create() or .get() (unpadded base64url, as Frontegg's client reads)."""

    webauthnToken: str  # noqa: N815 - the wire's name
    options: dict[str, Any]


@dataclass(frozen=True)
class Who:
    """The user a ceremony is for."""

    tenant_id: str
    user_id: str
    email: str


class InvalidWebAuthnToken(InvalidChallenge):
    """Unknown, expired, used, foreign or for another purpose or device: one answer."""

    code = "ER-MFA-INVALID-WEBAUTHN-TOKEN"
    default_message = "Invalid or expired webauthnToken"


class UnknownDevice(NotFound):
    """Not a WebAuthn device of this user (another user's device looks the same)."""

    code = "ER-MFA-UNKNOWN-DEVICE"
    default_message = "Unknown device"


class CounterRegressed(CeremonyFailed):
    """A proven assertion whose counter did not advance: a possibly cloned authenticator."""

    code = "ER-MFA-WEBAUTHN-COUNTER"
    default_message = "The authenticator's signature counter did not advance"


def _attachment(policy: Policy) -> str | None:
    """The attachment the tenant allows: None for both; 403 when neither."""
    platform, cross = policy.allows("WebAuthnPlatform"), policy.allows("WebAuthnCrossPlatform")
    if not (platform or cross):
        raise Forbidden("WebAuthn is not allowed for this account", code="ER-MFA-NOT-ALLOWED")
    if platform and cross:
        return None
    return "platform" if platform else "cross-platform"


def known(d: Device) -> KnownCredential:
    """A stored credential as the ceremony's exclude/allow list wants it."""
    return KnownCredential(id=d.lookup or "", transports=tuple(d.data.get("transports", ())))


def user_handle(stores: Stores, who: Who) -> bytes:
    """user.id: opaque, stable per user and free of personal data (WebAuthn L2 5.4.3)."""
    return bytes.fromhex(stores.hasher.digest("webauthn-user", f"{who.tenant_id}\x00{who.user_id}"))


async def begin_enroll(stores: Stores, cfg: WebAuthnConfig, who: Who, *,
                       bind: str = "") -> Ceremony:
    """{webauthnToken, options} for navigator.credentials.create()."""
    policy = await stores.policies.get(who.tenant_id)
    existing = await stores.devices.list_for_user(who.tenant_id, who.user_id, KIND)
    challenge, options = ceremony.registration_options(
        cfg, user_handle=user_handle(stores, who), user_name=who.email or who.user_id,
        exclude=[known(d) for d in existing], user_verification=policy.userVerification,
        attachment=_attachment(policy))
    token = await stores.challenges.create(
        purpose=ENROLL, tenant_id=who.tenant_id, user_id=who.user_id, ttl=cfg.challenge_ttl,
        data={"challenge": ceremony.b64url(challenge), "uv": policy.userVerification,
              "bind": bind})
    return Ceremony(token, options)


async def _take(stores: Stores, token: str, purpose: str, who: Who, bind: str) -> Challenge:
    try:
        c = await stores.challenges.consume(token, purpose=purpose, tenant_id=who.tenant_id,
                                            user_id=who.user_id)
    except InvalidChallenge:
        raise InvalidWebAuthnToken() from None
    if c.data.get("bind", "") != bind:
        raise InvalidWebAuthnToken()
    return c


async def finish_enroll(stores: Stores, cfg: WebAuthnConfig, who: Who, *, token: str,
                        device_type: str | None, credential: dict[str, Any],
                        bind: str = "") -> Device:
    """Verify the attestation and store the credential as a new device."""
    c = await _take(stores, token, ENROLL, who, bind)
    new = ceremony.verify_registration(cfg, credential,
                                       challenge=ceremony.unb64url(c.data["challenge"]),
                                       require_uv=c.data.get("uv") == "required")
    kind = device_type or ("Platform" if new.attachment == "platform" else "CrossPlatform")
    policy = await stores.policies.get(who.tenant_id)
    if not policy.allows(f"WebAuthn{kind}"):
        raise Forbidden(f"WebAuthn{kind} is not allowed for this account",
                        code="ER-MFA-NOT-ALLOWED")
    if await stores.devices.find_by_lookup(KIND, new.id) is not None:
        raise CeremonyFailed("This credential is already registered",
                             code="ER-MFA-WEBAUTHN-REGISTERED")
    device = Device(
        id=new_device_id(), tenant_id=who.tenant_id, user_id=who.user_id, kind=KIND,
        created_at=stores.clock.time(), name=NAMES[kind], lookup=new.id,
        sign_count=new.sign_count,
        data={"deviceType": kind, "transports": list(new.transports), "aaguid": new.aaguid,
              "alg": new.alg,
              "fmt": new.fmt, "attachment": new.attachment,
              "backupEligible": new.backup_eligible, "backedUp": new.backed_up})
    # The public key is not secret; sealing it with the device's associated data makes a
    # swapped or edited key in the database fail to open instead of being trusted.
    device = replace(device, secret=stores.cipher.encrypt(new.public_key, device.aad()))
    await stores.devices.add(device)
    return device


async def device_of(stores: Stores, who: Who, device_id: str) -> Device:
    """One of the user's WebAuthn devices; 404 otherwise."""
    d = await stores.devices.get(who.tenant_id, who.user_id, device_id)
    if d is None or d.kind != KIND:
        raise UnknownDevice()
    return d


async def begin_assertion(stores: Stores, cfg: WebAuthnConfig, who: Who, device: Device, *,
                          purpose: str, bind: str = "") -> Ceremony:
    """{webauthnToken, options} for navigator.credentials.get() with this device."""
    policy = await stores.policies.get(who.tenant_id)
    challenge, options = ceremony.authentication_options(
        cfg, allow=[known(device)], user_verification=policy.userVerification)
    token = await stores.challenges.create(
        purpose=purpose, tenant_id=who.tenant_id, user_id=who.user_id, ttl=cfg.challenge_ttl,
        device_id=device.id,
        data={"challenge": ceremony.b64url(challenge), "uv": policy.userVerification,
              "bind": bind})
    return Ceremony(token, options)


async def finish_assertion(stores: Stores, cfg: WebAuthnConfig, who: Who, device_id: str, *,
                           token: str, purpose: str, credential: dict[str, Any],
                           bind: str = "") -> Device:
    """Verify the assertion against the stored key and move the counter (one winner)."""
    c = await _take(stores, token, purpose, who, bind)
    device = await stores.devices.get(who.tenant_id, who.user_id, device_id)
    if device is None or device.kind != KIND or c.device_id != device.id or not device.secret:
        raise InvalidWebAuthnToken()
    if credential["rawId"] != device.lookup:
        raise CeremonyFailed()
    count = ceremony.verify_assertion(
        cfg, credential, challenge=ceremony.unb64url(c.data["challenge"]),
        public_key=stores.cipher.decrypt(device.secret, device.aad()),
        require_uv=c.data.get("uv") == "required")
    if ceremony.counter_regressed(device.sign_count, count):
        await stores.audit.record(tenant_id=who.tenant_id, user_id=who.user_id, factor=KIND,
                                  action="counter-regression", outcome="refused",
                                  device_id=device.id,
                                  detail={"stored": device.sign_count, "received": count})
        raise CounterRegressed()
    # Compare-and-set: of two proven assertions racing, the one that moves the counter wins.
    if not await stores.devices.update_sign_count(device.id, device.sign_count, count,
                                                  stores.clock.time()):
        raise CeremonyFailed()
    return device
