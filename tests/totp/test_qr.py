"""What enrollment shows: an otpauth:// URI with issuer and account, as a PNG QR code."""

from __future__ import annotations

import base64
import struct
from urllib.parse import parse_qs, unquote, urlparse

import pyotp

from shared.mfa.otpauth import enrollment, new_seed, provisioning_uri


def png_size(data_url: str) -> tuple[int, int]:
    """Width and height of a PNG data URL (asserting it is one)."""
    prefix = "data:image/png;base64,"
    assert data_url.startswith(prefix)
    raw = base64.b64decode(data_url[len(prefix):], validate=True)
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    assert raw[12:16] == b"IHDR"
    assert raw[-8:-4] == b"IEND"
    width, height = struct.unpack(">II", raw[16:24])
    return width, height


def test_provisioning_uri_round_trips_seed_issuer_and_account() -> None:
    seed = new_seed()
    uri = provisioning_uri(seed, account="ann@example.test", issuer="Acme MFA")
    parsed = urlparse(uri)
    assert (parsed.scheme, parsed.netloc) == ("otpauth", "totp")
    assert unquote(parsed.path) == "/Acme MFA:ann@example.test"
    query = parse_qs(parsed.query)
    assert query["secret"] == [seed] and query["issuer"] == ["Acme MFA"]
    back = pyotp.parse_uri(uri)
    assert isinstance(back, pyotp.TOTP)
    assert (back.secret, back.issuer, back.name) == (seed, "Acme MFA", "ann@example.test")
    assert (back.digits, back.interval) == (6, 30)


def test_seed_has_at_least_160_bits() -> None:
    assert len(base64.b32decode(new_seed())) >= 20


def test_qr_code_is_a_png_of_sensible_size() -> None:
    shown = enrollment(new_seed(), account="ann@example.test", issuer="Acme MFA")
    width, height = png_size(shown.qrCode)
    assert width == height
    assert 150 <= width <= 800
