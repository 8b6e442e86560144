"""The code path that turns a code into a time step: RFC 6238 vectors, window, constant work."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from services.totp import otp

# RFC 6238 Appendix B: SHA1, seed "12345678901234567890", 8 digits, 30-second steps.
RFC_SEED = base64.b32encode(b"12345678901234567890").decode()
RFC_VECTORS = [(59, "94287082"), (1111111109, "07081804"), (1111111111, "14050471"),
               (1234567890, "89005924"), (2000000000, "69279037"), (20000000000, "65353130")]


@pytest.mark.parametrize(("unix", "expected"), RFC_VECTORS)
def test_rfc6238_sha1_vectors_match_at_their_own_step(unix: int, expected: str) -> None:
    totp = otp.totp_for(RFC_SEED, digits=8)
    at = datetime.fromtimestamp(unix, UTC)
    assert totp.at(at) == expected
    assert otp.match_step(totp, expected, for_time=at, window=0) == unix // 30


@pytest.mark.parametrize(("unix", "expected"), RFC_VECTORS)
def test_rfc6238_vectors_are_refused_two_steps_later(unix: int, expected: str) -> None:
    totp = otp.totp_for(RFC_SEED, digits=8)
    later = datetime.fromtimestamp(unix + 60, UTC)
    assert otp.match_step(totp, expected, for_time=later, window=1) is None


def test_window_accepts_previous_and_next_step_only() -> None:
    totp = otp.totp_for(otp.DUMMY_SEED)
    now = datetime.fromtimestamp(1_700_000_000, UTC)
    step = totp.timecode(now)
    for offset in (-1, 0, 1):
        code = totp.at(now, counter_offset=offset)
        assert otp.match_step(totp, code, for_time=now, window=1) == step + offset
    for offset in (-2, 2):
        code = totp.at(now, counter_offset=offset)
        assert otp.match_step(totp, code, for_time=now, window=1) is None


def test_match_ignores_spaces_only_after_normalising() -> None:
    totp = otp.totp_for(otp.DUMMY_SEED)
    now = datetime.fromtimestamp(1_700_000_000, UTC)
    code = totp.at(now)
    spaced = f"{code[:3]} {code[3:]}"
    assert otp.match_step(totp, spaced, for_time=now, window=1) is None
    assert otp.match_step(totp, otp.normalise_code(spaced), for_time=now, window=1) is not None


def test_shorter_or_longer_codes_never_match() -> None:
    totp = otp.totp_for(otp.DUMMY_SEED)
    now = datetime.fromtimestamp(1_700_000_000, UTC)
    code = totp.at(now)
    for candidate in (code[:5], code + "0", ""):
        assert otp.match_step(totp, candidate, for_time=now, window=1) is None
