"""TOTP seeds and their otpauth:// URI as a QR image (RFC 6238; Google Authenticator's Key
Uri Format). Shared because the session start hands out a pending seed for forced enrollment."""

from __future__ import annotations

import base64
import io
import secrets
from dataclasses import dataclass

import pyotp
import segno

SEED_BYTES = 20  # 160 bits, RFC 4226 section 4 recommends at least this


def new_seed() -> str:
    """A random base32 seed of 160 bits."""
    return base64.b32encode(secrets.token_bytes(SEED_BYTES)).decode()


def provisioning_uri(seed: str, *, account: str, issuer: str) -> str:
    """otpauth://totp/Issuer:account?secret=...&issuer=... (SHA1, 6 digits, 30 s)."""
    return pyotp.TOTP(seed).provisioning_uri(name=account, issuer_name=issuer)


def qr_data_url(uri: str) -> str:
    """A PNG data URL of the URI's QR code."""
    buf = io.BytesIO()
    segno.make(uri, error="m").save(buf, kind="png", scale=5, border=4)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


@dataclass(frozen=True)
class Enrollment:
    """What the client shows for enrollment: {qrCode, secret} (Frontegg's field names)."""

    qrCode: str  # noqa: N815 - the wire's name
    secret: str


def enrollment(seed: str, *, account: str, issuer: str) -> Enrollment:
    """The QR code of the seed's otpauth:// URI, and the seed to type."""
    return Enrollment(qrCode=qr_data_url(provisioning_uri(seed, account=account, issuer=issuer)),
                      secret=seed)
