"""Field encryption (AES-256-GCM with key ids), keyed HMACs for codes, random tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def b64e(data: bytes) -> str:
    """Standard base64 text."""
    return base64.b64encode(data).decode()


def b64d(text: str) -> bytes:
    """Decode standard base64 text."""
    return base64.b64decode(text.encode(), validate=True)


def new_token(nbytes: int = 32) -> str:
    """A random URL-safe token (256 bits by default)."""
    return secrets.token_urlsafe(nbytes)


def token_hash(token: str) -> str:
    """SHA-256 of a high-entropy token; enough for lookups, no pepper needed."""
    return hashlib.sha256(token.encode()).hexdigest()


def numeric_code(digits: int = 6) -> str:
    """A uniformly random numeric one-time code."""
    return str(secrets.randbelow(10**digits)).zfill(digits)


class CodeHasher:
    """Peppered HMAC-SHA256 for codes and recovery codes (never stored in clear)."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("MFA_HMAC_KEY must be at least 16 bytes")
        self._key = key

    def digest(self, purpose: str, value: str) -> str:
        """HMAC of value bound to a purpose, hex."""
        msg = purpose.encode() + b"\x00" + value.encode()
        return hmac.new(self._key, msg, hashlib.sha256).hexdigest()

    def matches(self, purpose: str, value: str, expected: str) -> bool:
        """Constant-time comparison of value's HMAC with a stored one."""
        return hmac.compare_digest(self.digest(purpose, value), expected)


class FieldCipher:
    """AES-256-GCM; the first key encrypts, all keys decrypt (rotation by key id)."""

    def __init__(self, keys: list[tuple[str, bytes]]) -> None:
        if not keys:
            raise ValueError("MFA_ENCRYPTION_KEYS has no key")
        for kid, key in keys:
            if len(key) != 32:
                raise ValueError(f"encryption key {kid!r} must be 32 bytes")
            if ":" in kid or "." in kid:
                raise ValueError("key ids may not contain ':' or '.'")
        self._active = keys[0][0]
        self._keys = {kid: AESGCM(key) for kid, key in keys}

    @classmethod
    def from_setting(cls, value: str) -> FieldCipher:
        """Parse `kid:base64key,kid2:base64key` (first one active)."""
        keys = []
        for item in filter(None, (x.strip() for x in value.split(","))):
            kid, _, b64 = item.partition(":")
            keys.append((kid, b64d(b64)))
        return cls(keys)

    def encrypt(self, plaintext: bytes, aad: str) -> str:
        """Encrypt, binding the ciphertext to `aad` (tenant, user, device)."""
        nonce = secrets.token_bytes(12)
        ct = self._keys[self._active].encrypt(nonce, plaintext, aad.encode())
        return f"{self._active}.{b64e(nonce + ct)}"

    def decrypt(self, envelope: str, aad: str) -> bytes:
        """Decrypt an envelope made by encrypt with the same `aad`."""
        kid, _, blob = envelope.partition(".")
        raw = b64d(blob)
        return self._keys[kid].decrypt(raw[:12], raw[12:], aad.encode())
