"""TOTP codes (RFC 6238 over RFC 4226): the time step a code belongs to, in constant time."""

from __future__ import annotations

import hmac
from datetime import datetime

import pyotp

DIGITS = 6  # RFC 4226 section 5.3: 6 digits is the common (and Frontegg's) choice
PERIOD = 30  # RFC 6238 section 5.2 recommends a 30-second time step
# A fixed seed checked when the device is unknown, so that path costs what a known device costs.
DUMMY_SEED = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def totp_for(seed: str, *, digits: int = DIGITS) -> pyotp.TOTP:
    """The SHA1 TOTP generator of a base32 seed."""
    return pyotp.TOTP(seed, digits=digits, interval=PERIOD)


def normalise_code(value: str) -> str:
    """Drop the spaces and dashes some apps show inside a code."""
    return "".join(ch for ch in value if ch not in " -\t")


def match_step(totp: pyotp.TOTP, code: str, *, for_time: datetime, window: int) -> int | None:
    """The time step within +-window of for_time whose code equals `code`, or None.

    Every step of the window is computed and compared (no early exit, constant-time compare),
    and the newest match wins, so the replay guard (RFC 6238 section 5.2) stores the highest step.
    """
    step = totp.timecode(for_time)  # once: totp.at() would convert the datetime per step
    found: int | None = None
    candidate = code.encode()
    for counter in range(step - window, step + window + 1):
        expected = totp.generate_otp(counter).encode()  # RFC 4226 HOTP of the time step
        if hmac.compare_digest(candidate, expected) and len(code) == totp.digits:
            found = counter
    return found
