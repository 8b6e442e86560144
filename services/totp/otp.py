"""TOTP codes (RFC 6238 over RFC 4226): the time step a code belongs to, in constant time."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

import pyotp

DIGITS = 6  # RFC 4226 section 5.3: 6 digits is the common (and Frontegg's) choice
PERIOD = 30  # RFC 6238 section 5.2 recommends a 30-second time step
# A fixed seed checked when the device is unknown, so that path costs what a known device costs.
DUMMY_SEED = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


CODE_LENGTHS = (6, 8)  # 8 only for seeds imported from a system that used it


def totp_for(seed: str, *, digits: int = DIGITS, algorithm: str = "SHA1",
             period: int = PERIOD) -> pyotp.TOTP:
    """The TOTP generator of a base32 seed: SHA1, 6 digits, 30 s unless an imported seed
    says otherwise (RFC 6238 allows SHA256/SHA512 and other periods)."""
    return pyotp.TOTP(seed, digits=digits, interval=period,
                      digest=getattr(hashlib, algorithm.lower()))


def normalise_code(value: str) -> str:
    """Drop the spaces and dashes some apps show inside a code."""
    return "".join(ch for ch in value if ch not in " -\t")


def match_step(totp: pyotp.TOTP, code: str, *, for_time: datetime, window: int,
               drift: int = 0) -> int | None:
    """The time step within +-window of for_time's step, or of that step moved by the device's
    learned `drift` (so a phone whose clock was set right again still works), whose code
    equals `code`, or None.

    Every step of the window is computed and compared (no early exit, constant-time compare),
    and the newest match wins, so the replay guard (RFC 6238 section 5.2) stores the highest step.
    """
    return _match(totp, code, accepted_steps(totp.timecode(for_time), window, drift))


def accepted_steps(now: int, window: int, drift: int) -> list[int]:
    """The steps a code may come from: now +-window, and now + drift +-window."""
    if not drift:
        return list(range(now - window, now + window + 1))
    return sorted({*range(now - window, now + window + 1),
                   *range(now + drift - window, now + drift + window + 1)})


def _match(totp: pyotp.TOTP, code: str, counters: range | list[int]) -> int | None:
    found: int | None = None
    candidate = code.encode()
    for counter in counters:
        expected = totp.generate_otp(counter).encode()  # RFC 4226 HOTP of the time step
        if hmac.compare_digest(candidate, expected) and len(code) == totp.digits:
            found = counter
    return found


DRIFT_PROBE = range(2, 11)  # a wrong code matching 2-10 steps away: the clock looks off


def far_offset(totp: pyotp.TOTP, code: str, *, for_time: datetime, window: int,
               drift: int = 0, ahead: bool = False) -> int | None:
    """For a code that did not match: the offset in steps from now (2-10 behind, and ahead
    too when `ahead`; outside the accepted window) at which it would have matched, the nearest
    first; else None.

    Only a caller who already holds the seed may learn of a future step: for an enrolled
    device, "this code matches 150 s from now" tells a guesser a code that will log in when
    its time comes, while a past step never becomes valid again (docs/factors/totp.md)."""
    now = totp.timecode(for_time)
    accepted = accepted_steps(now, window, drift)
    for distance in DRIFT_PROBE:
        for offset in (-distance, distance) if ahead else (-distance,):
            if now + offset not in accepted and _match(totp, code, [now + offset]) is not None:
                return offset
    return None
