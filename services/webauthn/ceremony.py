"""The two WebAuthn ceremonies through py_webauthn 3.x: options out, credential JSON in.

Registration follows W3C WebAuthn Level 2 section 7.1, authentication section 7.2; py_webauthn
runs the checks in spec order. Everything binary on the wire is unpadded base64url, which is
what Frontegg's redux-store decodes (docs/frontegg-contract.md section 7). No stores and no
HTTP here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    base64url_to_bytes,
    bytes_to_base64url,
    decode_credential_public_key,
    options_to_json_dict,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorAttachment,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from services.webauthn.config import WebAuthnConfig
from shared.http.errors import BadRequest

log = logging.getLogger("mfa.webauthn")

b64url = bytes_to_base64url


class CeremonyFailed(BadRequest):
    """The credential did not prove possession (bad signature, origin, RP id, challenge...)."""

    code = "ER-MFA-WEBAUTHN-FAILED"
    default_message = "WebAuthn verification failed"


@dataclass(frozen=True)
class KnownCredential:
    """A stored credential as the options name it: id (base64url) and transports."""

    id: str
    transports: tuple[str, ...] = ()


@dataclass(frozen=True)
class NewCredential:
    """What a verified registration gives us to store."""

    id: str
    public_key: bytes
    alg: int
    sign_count: int
    aaguid: str
    fmt: str
    backup_eligible: bool
    backed_up: bool
    transports: tuple[str, ...]
    attachment: str | None


def unb64url(value: str) -> bytes:
    """Decode base64url (padding optional)."""
    return base64url_to_bytes(value)


def _descriptors(creds: list[KnownCredential]) -> list[PublicKeyCredentialDescriptor]:
    out = []
    for c in creds:
        transports = [AuthenticatorTransport(t) for t in c.transports
                      if t in AuthenticatorTransport._value2member_map_]
        out.append(PublicKeyCredentialDescriptor(id=unb64url(c.id), transports=transports or None))
    return out


def registration_options(cfg: WebAuthnConfig, *, user_handle: bytes, user_name: str,
                         exclude: list[KnownCredential], user_verification: str,
                         attachment: str | None, discoverable: bool = False
                         ) -> tuple[bytes, dict[str, Any]]:
    """PublicKeyCredentialCreationOptions (section 5.4) as JSON, and the challenge; a passkey
    (`discoverable`) must be a resident credential, found at login without a user name."""
    opts = generate_registration_options(
        rp_id=cfg.rp_id, rp_name=cfg.rp_name, user_name=user_name, user_id=user_handle,
        user_display_name=user_name, timeout=cfg.timeout_ms,
        attestation=AttestationConveyancePreference(cfg.attestation),
        authenticator_selection=AuthenticatorSelectionCriteria(
            authenticator_attachment=AuthenticatorAttachment(attachment) if attachment else None,
            # A second factor is always asked for by id (allowCredentials), so it needs no
            # discoverable credential, and security keys hold only a few of those.
            resident_key=(ResidentKeyRequirement.REQUIRED if discoverable
                          else ResidentKeyRequirement.DISCOURAGED),
            require_resident_key=discoverable,
            user_verification=UserVerificationRequirement(user_verification)),
        exclude_credentials=_descriptors(exclude))
    return opts.challenge, options_to_json_dict(opts)


def authentication_options(cfg: WebAuthnConfig, *, allow: list[KnownCredential],
                           user_verification: str) -> tuple[bytes, dict[str, Any]]:
    """PublicKeyCredentialRequestOptions (section 5.5) as JSON, and the challenge."""
    opts = generate_authentication_options(
        rp_id=cfg.rp_id, timeout=cfg.timeout_ms, allow_credentials=_descriptors(allow),
        user_verification=UserVerificationRequirement(user_verification))
    return opts.challenge, options_to_json_dict(opts)


def _failed(e: Exception) -> CeremonyFailed:
    # The reason names what the client sent wrong (origin, RP id, challenge); it goes to the
    # log for integrators, while the client gets one message for every failure.
    log.info("webauthn ceremony refused", extra={"fields": {"reason": str(e)[:200]}})
    return CeremonyFailed()


def verify_registration(cfg: WebAuthnConfig, credential: dict[str, Any], *, challenge: bytes,
                        require_uv: bool) -> NewCredential:
    """Section 7.1 steps 5-26: the attestation is for our challenge, origin and RP id."""
    try:
        v = verify_registration_response(
            credential=credential, expected_challenge=challenge, expected_rp_id=cfg.rp_id,
            expected_origin=list(cfg.origins), require_user_verification=require_uv)
    except (WebAuthnException, ValueError, TypeError, KeyError) as e:
        raise _failed(e) from None
    transports = credential["response"].get("transports") or []
    attachment = credential.get("authenticatorAttachment")
    return NewCredential(
        id=b64url(v.credential_id), public_key=v.credential_public_key,
        alg=int(decode_credential_public_key(v.credential_public_key).alg),
        sign_count=v.sign_count, aaguid=v.aaguid, fmt=str(getattr(v.fmt, "value", v.fmt)),
        backup_eligible=str(getattr(v.credential_device_type, "value",
                                    v.credential_device_type)) == "multi_device",
        backed_up=bool(v.credential_backed_up),
        transports=tuple(t for t in transports if t in AuthenticatorTransport._value2member_map_),
        attachment=attachment if attachment in ("platform", "cross-platform") else None)


def verify_assertion(cfg: WebAuthnConfig, credential: dict[str, Any], *, challenge: bytes,
                     public_key: bytes, require_uv: bool) -> int:
    """Section 7.2 steps 7-20 except the counter (step 21): the signature is by our key over
    our challenge, origin and RP id. The authenticator's new sign count."""
    try:
        v = verify_authentication_response(
            credential=credential, expected_challenge=challenge, expected_rp_id=cfg.rp_id,
            expected_origin=list(cfg.origins), credential_public_key=public_key,
            # 0 turns py_webauthn's own counter check off: it runs before the signature check,
            # so a forged assertion could raise a "cloned authenticator" alarm. The caller
            # judges the counter once the signature is proven (section 7.2 step 21).
            credential_current_sign_count=0, require_user_verification=require_uv)
    except (WebAuthnException, ValueError, TypeError, KeyError) as e:
        raise _failed(e) from None
    return int(v.new_sign_count)


def counter_regressed(stored: int, received: int) -> bool:
    """Section 7.2 step 21: when either count is non-zero the new one must be greater
    (synced passkeys report 0 forever, which is fine)."""
    return (stored > 0 or received > 0) and received <= stored
