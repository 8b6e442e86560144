"""Software WebAuthn authenticator plus browser emulation for tests (no real browser needed)."""

# The JSON it returns is exactly what Frontegg's client posts as `options` (contract section 7):
# every binary value is unpadded base64url and the credential's methods appear as `{}`.
# Options are decoded strictly: padded or standard base64 raises ValueError, so a server that
# sends them (which breaks Frontegg's real client) fails loudly in tests.

import base64
import binascii
import copy
import hashlib
import json
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = [
    "COSE_ALG_EDDSA",
    "COSE_ALG_ES256",
    "InvalidStateError",
    "NotAllowedError",
    "NotSupportedError",
    "SecurityError",
    "SoftAuthenticator",
    "SoftAuthenticatorError",
    "SoftCredential",
    "b64url_decode",
    "b64url_encode",
]

Alg = Literal["ES256", "EdDSA"]
Attachment = Literal["platform", "cross-platform"]
PrivateKey = ec.EllipticCurvePrivateKey | Ed25519PrivateKey

COSE_ALG_ES256 = -7
COSE_ALG_EDDSA = -8
_COSE_ALGS: dict[str, int] = {"ES256": COSE_ALG_ES256, "EdDSA": COSE_ALG_EDDSA}

# Authenticator data flag bits (WebAuthn L2, section 6.1).
FLAG_UP = 0x01
FLAG_UV = 0x04
FLAG_AT = 0x40

AAGUID_ZERO = bytes(16)

_B64URL_RE = re.compile(r"[A-Za-z0-9_-]*")


class SoftAuthenticatorError(Exception):
    """Base class for the DOMException-like errors the emulated browser raises."""


class InvalidStateError(SoftAuthenticatorError):
    """create(): an excludeCredentials id is one of this authenticator's own credentials."""


class NotAllowedError(SoftAuthenticatorError):
    """get(): none of this authenticator's credentials may be used (browser NotAllowedError)."""


class NotSupportedError(SoftAuthenticatorError):
    """create(): pubKeyCredParams offers no algorithm this authenticator was configured for."""


class SecurityError(SoftAuthenticatorError):
    """The RP id from the options is not the origin's host or a parent domain of it."""


def b64url_encode(data: bytes) -> str:
    """Encode bytes as unpadded base64url."""
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def b64url_decode(value: str) -> bytes:
    """Decode strictly unpadded base64url; raise ValueError on padding, '+', '/' or bad length."""
    if not isinstance(value, str):
        raise ValueError(f"base64url value must be a str, got {type(value).__name__}")
    if _B64URL_RE.fullmatch(value) is None:
        raise ValueError(
            f"not unpadded base64url (padding, '+', '/' or other characters): {value!r}"
        )
    if len(value) % 4 == 1:
        raise ValueError(f"not valid base64url (impossible length {len(value)}): {value!r}")
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except binascii.Error as exc:  # pragma: no cover - regex and length check make this unreachable
        raise ValueError(f"not valid base64url: {value!r}") from exc


@dataclass
class SoftCredential:
    """One credential held by a SoftAuthenticator (mutate sign_count only via set_sign_count)."""

    raw_id: bytes
    rp_id: str
    alg: int
    private_key: PrivateKey
    cose_public_key: bytes
    user_handle: bytes | None
    resident: bool
    sign_count: int

    @property
    def id(self) -> str:
        """Credential id as unpadded base64url, as it appears in `id` / `rawId`."""
        return b64url_encode(self.raw_id)


def _cose_public_key(private_key: PrivateKey) -> bytes:
    """CTAP2-canonical COSE_Key for the key's public half."""
    if isinstance(private_key, Ed25519PrivateKey):
        x = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        # kty OKP(1), alg EdDSA(-8), crv Ed25519(6), x
        return cbor2.dumps({1: 1, 3: COSE_ALG_EDDSA, -1: 6, -2: x})
    numbers = private_key.public_key().public_numbers()
    # kty EC2(2), alg ES256(-7), crv P-256(1), x, y
    return cbor2.dumps(
        {
            1: 2,
            3: COSE_ALG_ES256,
            -1: 1,
            -2: numbers.x.to_bytes(32, "big"),
            -3: numbers.y.to_bytes(32, "big"),
        }
    )


def _sign(private_key: PrivateKey, data: bytes) -> bytes:
    """WebAuthn signature: DER ECDSA-SHA256 for ES256, raw 64 bytes for Ed25519."""
    if isinstance(private_key, Ed25519PrivateKey):
        return private_key.sign(data)
    return private_key.sign(data, ec.ECDSA(hashes.SHA256()))


def _client_data_json(kind: str, challenge: bytes, origin: str) -> bytes:
    """clientDataJSON serialized the way Chromium does (key order, no spaces)."""
    payload = {
        "type": kind,
        "challenge": b64url_encode(challenge),
        "origin": origin,
        "crossOrigin": False,
    }
    return json.dumps(payload, separators=(",", ":")).encode("utf-8")


def _require_str(options: Mapping[str, Any], key: str, where: str) -> str:
    """Fetch a required string field from an options dict."""
    value = options.get(key)
    if not isinstance(value, str):
        raise ValueError(f"{where}.{key} must be an unpadded base64url string, got {value!r}")
    return value


def _descriptor_ids(options: Mapping[str, Any], key: str) -> list[bytes]:
    """Decode the ids of excludeCredentials / allowCredentials (absent or null means empty)."""
    descriptors = options.get(key) or []
    if not isinstance(descriptors, Sequence):
        raise ValueError(f"options.{key} must be a list, got {descriptors!r}")
    ids: list[bytes] = []
    for index, descriptor in enumerate(descriptors):
        if not isinstance(descriptor, Mapping):
            raise ValueError(f"options.{key}[{index}] must be an object, got {descriptor!r}")
        ids.append(b64url_decode(_require_str(descriptor, "id", f"options.{key}[{index}]")))
    return ids


class SoftAuthenticator:
    """Emulates a browser page at one origin plus one authenticator holding in-memory keys."""

    def __init__(
        self,
        *,
        origin: str,
        rp_id: str | None = None,
        alg: Alg = "ES256",
        attachment: Attachment = "cross-platform",
        user_verified: bool = True,
        sign_count_start: int = 0,
    ) -> None:
        """Create an empty authenticator; an explicit rp_id overrides whatever the options say."""
        if alg not in _COSE_ALGS:
            raise ValueError(f"alg must be 'ES256' or 'EdDSA', got {alg!r}")
        if attachment not in ("platform", "cross-platform"):
            raise ValueError(
                f"attachment must be 'platform' or 'cross-platform', got {attachment!r}"
            )
        if not 0 <= sign_count_start <= 0xFFFFFFFF:
            raise ValueError(f"sign_count_start must fit in 32 bits, got {sign_count_start}")
        self.origin: str = origin
        self.alg: Alg = alg
        self.attachment: Attachment = attachment
        self.user_verified: bool = user_verified
        self.sign_count_start: int = sign_count_start
        self._rp_id_override: str | None = rp_id
        self._credentials: dict[bytes, SoftCredential] = {}

    # ------------------------------------------------------------------ introspection

    @property
    def rp_id(self) -> str:
        """The constructor's rp_id, or the origin's host when none was given."""
        return self._rp_id_override or self._origin_host(self.origin)

    @property
    def cose_alg(self) -> int:
        """COSE algorithm identifier of the configured alg (-7 ES256, -8 EdDSA)."""
        return _COSE_ALGS[self.alg]

    @property
    def credential_ids(self) -> list[str]:
        """Ids (unpadded base64url) of the credentials held, oldest first."""
        return [cred.id for cred in self._credentials.values()]

    @property
    def credentials(self) -> list[SoftCredential]:
        """The credentials held, oldest first."""
        return list(self._credentials.values())

    def credential(self, credential_id: str | bytes) -> SoftCredential:
        """Look up a held credential by id (base64url str or raw bytes); KeyError if unknown."""
        raw = (
            b64url_decode(credential_id) if isinstance(credential_id, str) else bytes(credential_id)
        )
        try:
            return self._credentials[raw]
        except KeyError:
            raise KeyError(f"no credential {b64url_encode(raw)!r} on this authenticator") from None

    def sign_count(self, credential_id: str | bytes) -> int:
        """Current signature counter of a credential (what the last response reported)."""
        return self.credential(credential_id).sign_count

    def set_sign_count(self, credential_id: str | bytes, n: int) -> None:
        """Set a credential's counter; the next get() reports n + 1 (to simulate a regression)."""
        if not 0 <= n < 0xFFFFFFFF:
            raise ValueError(f"sign count must fit in 32 bits, got {n}")
        self.credential(credential_id).sign_count = n

    @staticmethod
    def tamper_signature(assertion: Mapping[str, Any]) -> dict[str, Any]:
        """Return a deep copy of a get() result with the last signature byte flipped."""
        tampered: dict[str, Any] = copy.deepcopy(dict(assertion))
        signature = bytearray(b64url_decode(tampered["response"]["signature"]))
        signature[-1] ^= 0x01
        tampered["response"]["signature"] = b64url_encode(bytes(signature))
        return tampered

    # ------------------------------------------------------------------ ceremonies

    def create(
        self,
        options: Mapping[str, Any],
        *,
        origin: str | None = None,
        rp_id: str | None = None,
    ) -> dict[str, Any]:
        """navigator.credentials.create(): make a credential and return Frontegg's posted JSON."""
        challenge = b64url_decode(_require_str(options, "challenge", "options"))
        user = options.get("user")
        if not isinstance(user, Mapping):
            raise ValueError(f"options.user must be an object, got {user!r}")
        user_handle = b64url_decode(_require_str(user, "id", "options.user"))
        rp = options.get("rp") or {}
        if not isinstance(rp, Mapping):
            raise ValueError(f"options.rp must be an object, got {rp!r}")
        effective_rp_id = self._effective_rp_id(rp.get("id"), rp_id, origin)
        origin = self.origin if origin is None else origin

        cose_alg = self._choose_alg(options.get("pubKeyCredParams"))

        for excluded in _descriptor_ids(options, "excludeCredentials"):
            if excluded in self._credentials:
                raise InvalidStateError(
                    "The user attempted to register an authenticator that contains one of the "
                    "credentials already registered with the relying party "
                    f"({b64url_encode(excluded)})."
                )

        selection = options.get("authenticatorSelection") or {}
        resident = bool(
            selection.get("requireResidentKey")
            or selection.get("residentKey") in ("required", "preferred")
        )

        private_key: PrivateKey = (
            Ed25519PrivateKey.generate()
            if cose_alg == COSE_ALG_EDDSA
            else ec.generate_private_key(ec.SECP256R1())
        )
        raw_id = secrets.token_bytes(16 + secrets.randbelow(17))  # 16..32 bytes
        while raw_id in self._credentials:  # pragma: no cover - astronomically unlikely
            raw_id = secrets.token_bytes(16 + secrets.randbelow(17))
        credential = SoftCredential(
            raw_id=raw_id,
            rp_id=effective_rp_id,
            alg=cose_alg,
            private_key=private_key,
            cose_public_key=_cose_public_key(private_key),
            user_handle=user_handle,
            resident=resident,
            sign_count=self.sign_count_start,
        )

        attested = (
            AAGUID_ZERO + len(raw_id).to_bytes(2, "big") + raw_id + credential.cose_public_key
        )
        auth_data = (
            self._authenticator_data(effective_rp_id, FLAG_AT, credential.sign_count) + attested
        )
        attestation_object = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client_data = _client_data_json("webauthn.create", challenge, origin)

        self._credentials[raw_id] = credential
        return self._public_key_credential(credential, {
            "clientDataJSON": b64url_encode(client_data),
            "attestationObject": b64url_encode(attestation_object),
            "getTransports": {},
            "getAuthenticatorData": {},
            "getPublicKey": {},
            "getPublicKeyAlgorithm": {},
        })

    def get(
        self,
        options: Mapping[str, Any],
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        credential_id: str | bytes | None = None,
    ) -> dict[str, Any]:
        """navigator.credentials.get(): sign with an allowed (or the forced) credential."""
        challenge = b64url_decode(_require_str(options, "challenge", "options"))
        overridden = rp_id is not None or self._rp_id_override is not None
        effective_rp_id = self._effective_rp_id(options.get("rpId"), rp_id, origin)
        origin = self.origin if origin is None else origin
        allowed = _descriptor_ids(options, "allowCredentials")

        if credential_id is not None:
            credential = self.credential(credential_id)
        else:
            candidates = [
                cred
                for cred in self._credentials.values()
                # A real authenticator scopes credentials by RP id; a forced (wrong) rp id skips
                # that so that tests can still sign and let the server reject the result.
                if (overridden or cred.rp_id == effective_rp_id)
                and (cred.raw_id in allowed if allowed else cred.resident)
            ]
            if not candidates:
                wanted = (
                    f"allowCredentials {[b64url_encode(a) for a in allowed]}"
                    if allowed
                    else "a discoverable login (empty allowCredentials needs a resident credential)"
                )
                raise NotAllowedError(
                    f"no credential on this authenticator for rp id {effective_rp_id!r} fits "
                    f"{wanted} (held: {self.credential_ids})"
                )
            # allowCredentials order wins; for a discoverable login take the newest credential.
            credential = (
                min(candidates, key=lambda c: allowed.index(c.raw_id))
                if allowed
                else candidates[-1]
            )

        if credential.sign_count >= 0xFFFFFFFF:
            raise ValueError("signature counter would overflow 32 bits")
        credential.sign_count += 1
        auth_data = self._authenticator_data(effective_rp_id, 0, credential.sign_count)
        client_data = _client_data_json("webauthn.get", challenge, origin)
        signature = _sign(credential.private_key, auth_data + hashlib.sha256(client_data).digest())
        user_handle = credential.user_handle if credential.resident else None
        return self._public_key_credential(credential, {
            "clientDataJSON": b64url_encode(client_data),
            "authenticatorData": b64url_encode(auth_data),
            "signature": b64url_encode(signature),
            "userHandle": None if user_handle is None else b64url_encode(user_handle),
        })

    # ------------------------------------------------------------------ internals

    def _public_key_credential(self, credential: SoftCredential, response: dict[str, Any]
                               ) -> dict[str, Any]:
        """The PublicKeyCredential as Frontegg's client posts it (its methods as {})."""
        return {
            "id": credential.id,
            "type": "public-key",
            "rawId": credential.id,
            "authenticatorAttachment": self.attachment,
            "response": response,
            "getClientExtensionResults": {},
            "toJSON": {},
        }

    @staticmethod
    def _origin_host(origin: str) -> str:
        """Host part of an origin such as http://localhost:8080."""
        host = urlsplit(origin).hostname
        if not host:
            raise ValueError(f"origin {origin!r} has no host; pass rp_id explicitly")
        return host

    def _effective_rp_id(
        self, from_options: Any, per_call_rp_id: str | None, per_call_origin: str | None
    ) -> str:
        """RP id to hash: forced rp id, else the options' (browser-checked), else origin host."""
        if per_call_rp_id is not None:
            return per_call_rp_id
        if self._rp_id_override is not None:
            return self._rp_id_override
        if from_options is None:
            return self._origin_host(per_call_origin or self.origin)
        if not isinstance(from_options, str) or not from_options:
            raise ValueError(f"rp id in options must be a non-empty string, got {from_options!r}")
        if per_call_origin is None:
            # Like a browser: the RP id must be the page's host or a parent domain of it.
            # A per-call origin= is a deliberate forgery, so it skips this check.
            host = self._origin_host(self.origin)
            if host != from_options and not host.endswith("." + from_options):
                raise SecurityError(
                    f"This is an invalid domain: rp id {from_options!r} is not valid for "
                    f"origin {self.origin!r} (pass rp_id= or origin= to force it)"
                )
        return from_options

    def _choose_alg(self, params: Any) -> int:
        """The configured alg if pubKeyCredParams offers it (absent list means ES256, RS256)."""
        offered: list[Any]
        if params is None or params == []:
            offered = [COSE_ALG_ES256, -257]  # WebAuthn default when the RP gives none
        else:
            if not isinstance(params, Sequence):
                raise ValueError(f"options.pubKeyCredParams must be a list, got {params!r}")
            offered = [
                p.get("alg")
                for p in params
                if isinstance(p, Mapping) and p.get("type", "public-key") == "public-key"
            ]
        if self.cose_alg in offered:
            return self.cose_alg
        raise NotSupportedError(
            f"pubKeyCredParams offers algorithms {offered}, but this authenticator is "
            f"configured for {self.alg} ({self.cose_alg})"
        )

    def _authenticator_data(self, rp_id: str, extra_flags: int, sign_count: int) -> bytes:
        """rpIdHash || flags || signCount (attested credential data is appended by the caller)."""
        flags = FLAG_UP | extra_flags | (FLAG_UV if self.user_verified else 0)
        return (
            hashlib.sha256(rp_id.encode("utf-8")).digest()
            + bytes([flags])
            + sign_count.to_bytes(4, "big")
        )
