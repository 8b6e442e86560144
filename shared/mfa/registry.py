"""The factor registry: every kind of credential, declared once, with what the rest of the code
needs to know about it. Every list of factors elsewhere (the amr a login carries, the lockout
counters, the `mfaDevices` arrays, what the MFA session copies, the policy's strategies, what
operators list and unlock, the notices' names) is read from here, so a new kind is added by
declaring it (docs/adding-a-factor.md) and the tests that run over KINDS cover it.

Imports nothing of the project: settings, the stores and every service may read it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    """One kind of credential and its properties."""

    name: str  # mfa_devices.kind, the audit rows' factor, the attempt's factor
    label: str  # the name a device of this kind gets when its user gave it none
    amr: tuple[str, ...] = ()  # RFC 8176 values of a login completed with it
    lockout: str | None = None  # the lockout counter its wrong proofs count on
    array: str | None = None  # the Frontegg `mfaDevices` array it appears in
    strategies: tuple[str, ...] = ()  # the policy strategies that allow it (any one)
    stored: bool = False  # one row per credential in mfa_devices
    mfa: bool = False  # a second factor: it makes the user "enrolled"
    carried: bool = False  # the MFA session copies its rows (its verify reads no Postgres)


TOTP = Kind("totp", "Authenticator app", amr=("mfa", "otp"), lockout="totp",
            array="authenticators", strategies=("AuthenticatorApp",), stored=True, mfa=True,
            carried=True)
# An HOTP hardware token (RFC 4226), imported (shared/mfa/hotp.py). Frontegg's client knows
# it as an authenticator: the authenticator routes verify it, on the authenticator app's
# lockout counter, under the authenticator app's strategy. Carried: its proof needs only the
# row (seed and counter); a counter carried by an older session start only narrows the
# look-ahead, and the conditional UPDATE refuses a counter spent since.
HOTP = Kind("hotp", "Hardware token", amr=("mfa", "otp"), lockout="totp",
            array="authenticators", strategies=("AuthenticatorApp",), stored=True, mfa=True,
            carried=True)
SMS = Kind("sms", "Phone", amr=("mfa", "sms"), lockout="sms", array="phones",
           strategies=("SMS",), stored=True, mfa=True)
# No device row: the code goes to the user's email address, which the host names at login.
EMAIL = Kind("email", "Email", amr=("mfa", "otp"), lockout="email", array="emails",
             strategies=("EmailCode",), mfa=True)
WEBAUTHN = Kind("webauthn", "Security key", amr=("mfa", "hwk"), lockout="webauthn",
                array="webauthn", strategies=("WebAuthnPlatform", "WebAuthnCrossPlatform"),
                stored=True, mfa=True)
# A discoverable WebAuthn credential that logs in by itself, without a password: a first
# factor, so it is neither in mfaDevices nor "enrolled MFA".
PASSKEY = Kind("passkey", "Passkey", amr=("pwd-less", "hwk"), stored=True)
# Recovery codes: Frontegg's one code (POST /mfa/recover, limited per email and address) and a
# code of the user's set mid-login (counted on the `recovery` lockout counter).
RECOVERY = Kind("recovery", "Recovery code", amr=("mfa", "rec"), lockout="recovery")
# A remembered browser (trusted device): skips the second factor until it expires.
REMEMBERED = Kind("remembered", "Trusted device", amr=("mfa", "rmd"))

KINDS: tuple[Kind, ...] = (TOTP, HOTP, SMS, EMAIL, WEBAUTHN, PASSKEY, RECOVERY, REMEMBERED)
BY_NAME = {k.name: k for k in KINDS}

# Every lockout counter, in declaration order (what operators see and unlock).
LOCKOUT_FACTORS: tuple[str, ...] = tuple(dict.fromkeys(k.lockout for k in KINDS if k.lockout))
# The kinds whose rows the MFA session copies at its start.
CARRIED: tuple[str, ...] = tuple(k.name for k in KINDS if k.carried)
# The kinds stored as rows that are second factors (a user's "MFA devices").
DEVICE_KINDS: tuple[str, ...] = tuple(k.name for k in KINDS if k.stored and k.mfa)
# Frontegg's four `mfaDevices` arrays, in the order its client lists them.
ARRAYS: tuple[str, ...] = ("webauthn", "phones", "authenticators", "emails")
# The policy's strategies, in the order Frontegg lists them.
STRATEGIES: tuple[str, ...] = tuple(s for k in (TOTP, WEBAUTHN, SMS, EMAIL) for s in k.strategies)
# amr values that show a second factor was proven (not a recovery code, not a remembered
# browser): what step-up asks of a token it re-issues (services/session/profile.py). The
# "recent MFA" of enrollments and recovery-code sets (flow.require_recent_mfa) asks only for
# "mfa" and a fresh auth_time today.
PROOF_AMR: tuple[str, ...] = tuple(dict.fromkeys(
    m for k in KINDS if k.mfa for m in k.amr if m != "mfa"))


def kind(name: str) -> Kind:
    """The declared kind of that name (KeyError for an undeclared one)."""
    return BY_NAME[name]


def amr_of(name: str) -> list[str]:
    """The amr of a login completed with that kind."""
    return list(BY_NAME[name].amr)


def is_mfa_device(name: str) -> bool:
    """Whether a stored row of that kind is one of the user's MFA devices."""
    return name in DEVICE_KINDS
