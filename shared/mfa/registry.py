"""The factor registry: every kind of credential, declared once, with what the rest of the code
needs to know about it. Every list of factors elsewhere (the amr a login carries, the lockout
counters, the `mfaDevices` arrays, what the MFA session copies, the policy's strategies, what
operators list and unlock, the notices' names) is read from here, so a new kind is added by
declaring it (docs/adding-a-factor.md) and the tests that run over KINDS cover it.

It also declares each kind's lifecycle, which no feature decides for itself: where its
credentials live, how many a user may hold, how fresh an MFA creating one needs, whether
operators list it, and what every removal path (PATHS) does to it. shared.mfa.resets carries
the removals out from these declarations; the README's lifecycle table is printed from them.

Imports nothing of the project: settings, the stores and every service may read it."""

from __future__ import annotations

from dataclasses import dataclass

# Where a kind's credentials live (what a removal deletes).
DEVICES = "devices"  # one mfa_devices row per credential
USER_CODE = "user-code"  # mfa_users.recovery_hmac: Frontegg's one recovery code
CODE_SET = "code-set"  # recovery_codes rows: the user's set
TRUSTED = "trusted"  # remembered_devices rows: remembered browsers
HOST = "host"  # nothing of ours: the address the host names at each login

# The paths that remove credentials. Each reads `removed_by` (shared.mfa.resets.clear).
RESET = "reset"  # an operator's reset: admin API, CLI, vendor POST /users/v1/mfa/disable
UNENROLL = "unenroll"  # vendor-only unenroll (every tenant of the user, or the bound one)
RECOVER = "recover"  # POST /mfa/recover with a recovery code (shared.mfa.resets.recover)
USER = "user"  # the user's own removal of one credential (the rest of that kind stays)
FORCED_IMPORT = "forced-import"  # an import with `force` into a user who has MFA already
PATHS: tuple[str, ...] = (RESET, UNENROLL, RECOVER, USER, FORCED_IMPORT)
# What each operator/recovery path removes: every credential the user holds, so that whoever
# made one cannot keep it through the documented answer to a compromise.
EVERYTHING = frozenset({RESET, UNENROLL, RECOVER})


@dataclass(frozen=True)
class Kind:
    """One kind of credential and its properties."""

    name: str  # mfa_devices.kind, the audit rows' factor, the attempt's factor
    label: str  # the name a device of this kind gets when its user gave it none
    amr: tuple[str, ...] = ()  # RFC 8176 values of a login completed with it
    lockout: str | None = None  # the lockout counter its wrong proofs count on
    array: str | None = None  # the Frontegg `mfaDevices` array it appears in
    strategies: tuple[str, ...] = ()  # the policy strategies that allow it (any one)
    off_code: str = "ER-MFA-STRATEGY-DISABLED"  # the 403's code while none of them is on
    mfa: bool = False  # a second factor: it makes the user "enrolled"
    carried: bool = False  # the MFA session copies its rows (its verify reads no Postgres)
    # Lifecycle.
    storage: str = DEVICES  # where its credentials live (DEVICES, USER_CODE, ...)
    cap: int = 0  # how many one user may hold (MFA_MAX_<NAME> overrides; 0: no cap)
    listed: bool = True  # operators see it in a user's factor list
    # The policy field holding how fresh (seconds) a token's MFA must be to create one
    # (shared.mfa.flow.require_recent_mfa); `fresh` kinds always need one, even when the
    # tenant sets 0: they log in by themselves or stand in for MFA.
    created_within: str = "enrollRequiresMfaWithin"
    fresh: bool = False
    imported_only: bool = False  # made only by an operator's import, never by its user
    removed_by: frozenset[str] = EVERYTHING | {USER}  # the removal paths that delete it

    @property
    def stored(self) -> bool:
        """One row per credential in mfa_devices."""
        return self.storage == DEVICES

    @property
    def cap_setting(self) -> str:
        """The environment variable that overrides its cap."""
        return f"MFA_MAX_{self.name.upper().replace('-', '_')}_PER_USER"


TOTP = Kind("totp", "Authenticator app", amr=("mfa", "otp"), lockout="totp",
            array="authenticators", strategies=("AuthenticatorApp",), mfa=True,
            carried=True, cap=10)
# An HOTP hardware token (RFC 4226), imported (shared/mfa/hotp.py). Frontegg's client knows
# it as an authenticator: the authenticator routes verify it, on the authenticator app's
# lockout counter, under the authenticator app's strategy. Carried: its proof needs only the
# row (seed and counter); a counter carried by an older session start only narrows the
# look-ahead, and the conditional UPDATE refuses a counter spent since.
HOTP = Kind("hotp", "Hardware token", amr=("mfa", "otp"), lockout="totp",
            array="authenticators", strategies=("AuthenticatorApp",), mfa=True,
            carried=True, cap=10, imported_only=True)
SMS = Kind("sms", "Phone", amr=("mfa", "sms"), lockout="sms", array="phones",
           strategies=("SMS",), mfa=True, cap=5, off_code="ER-MFA-SMS-NOT-ALLOWED")
# No device row: the code goes to the user's email address, which the host names at login;
# nothing to list, cap or remove (the strategy switches it off).
EMAIL = Kind("email", "Email", amr=("mfa", "otp"), lockout="email", array="emails",
             strategies=("EmailCode",), mfa=True, storage=HOST, listed=False,
             off_code="ER-MFA-EMAIL-NOT-ALLOWED",
             removed_by=frozenset())
WEBAUTHN = Kind("webauthn", "Security key", amr=("mfa", "hwk"), lockout="webauthn",
                array="webauthn", strategies=("WebAuthnPlatform", "WebAuthnCrossPlatform"),
                mfa=True, cap=20, off_code="ER-MFA-NOT-ALLOWED")
# A discoverable WebAuthn credential that logs in by itself, without a password: a first
# factor, so it is neither in mfaDevices nor "enrolled MFA"; a whole login, so it is made
# only with a fresh MFA, and its own strategy lets a tenant turn password-less login off.
PASSKEY = Kind("passkey", "Passkey", amr=("pwd-less", "hwk"), strategies=("Passkeys",),
               cap=20, created_within="passkeysRequireMfaWithin", fresh=True,
               off_code="ER-MFA-PASSKEYS-NOT-ALLOWED")
# Frontegg's one recovery code (POST /mfa/recover, limited per email and address), issued with
# the first factor (never asked for: no freshness), replaced by each forced enrollment.
RECOVERY = Kind("recovery", "Recovery code", amr=("mfa", "rec"), lockout="recovery",
                storage=USER_CODE, cap=1, removed_by=EVERYTHING)
# The user's set of single-use codes: one logs in mid-login in place of a factor (counted on
# the `recovery` lockout counter) or recovers; it stands in for MFA, so it is made only with a
# fresh MFA.
RECOVERY_SET = Kind("recovery-set", "Recovery codes", amr=("mfa", "rec"), lockout="recovery",
                    storage=CODE_SET, cap=10, created_within="recoveryCodesRequireMfaWithin",
                    fresh=True, removed_by=EVERYTHING)
# A remembered browser (trusted device): skips the second factor until it expires; every
# change to the user's factors forgets them all.
REMEMBERED = Kind("remembered", "Trusted device", amr=("mfa", "rmd"), storage=TRUSTED,
                  removed_by=EVERYTHING | {USER, FORCED_IMPORT})

KINDS: tuple[Kind, ...] = (TOTP, HOTP, SMS, EMAIL, WEBAUTHN, PASSKEY, RECOVERY, RECOVERY_SET,
                           REMEMBERED)
BY_NAME = {k.name: k for k in KINDS}

# Every lockout counter, in declaration order (what operators see and unlock).
LOCKOUT_FACTORS: tuple[str, ...] = tuple(dict.fromkeys(k.lockout for k in KINDS if k.lockout))
# The kinds whose rows the MFA session copies at its start.
CARRIED: tuple[str, ...] = tuple(k.name for k in KINDS if k.carried)
# The kinds stored as rows that are second factors (a user's "MFA devices").
DEVICE_KINDS: tuple[str, ...] = tuple(k.name for k in KINDS if k.stored and k.mfa)
# The kinds whose credentials are mfa_devices rows (MFA devices and passkeys).
STORED: tuple[str, ...] = tuple(k.name for k in KINDS if k.stored)
# The kinds operators see in a user's factor list.
LISTED: tuple[str, ...] = tuple(k.name for k in KINDS if k.listed)
# Frontegg's four `mfaDevices` arrays, in the order its client lists them.
ARRAYS: tuple[str, ...] = ("webauthn", "phones", "authenticators", "emails")
# The policy's strategies: Frontegg's, in the order it lists them, then ours (Passkeys).
STRATEGIES: tuple[str, ...] = tuple(
    s for k in (TOTP, WEBAUTHN, SMS, EMAIL, PASSKEY) for s in k.strategies)
# The strategies of second factors: what a login's `mfaStrategies` lists for Frontegg's
# client (Passkeys is a first factor's).
MFA_STRATEGIES: tuple[str, ...] = tuple(s for s in STRATEGIES
                                        if any(s in k.strategies for k in KINDS if k.mfa))
# amr values that show a factor was proven (not a recovery code, not a remembered browser):
# with "mfa" or a passkey's "pwd-less", what "recent MFA" asks of a token
# (shared.mfa.tokens.fresh_mfa: step-up, enrollments, passkeys, recovery-code sets).
PROOF_AMR: tuple[str, ...] = tuple(dict.fromkeys(
    m for k in KINDS if k.mfa for m in k.amr if m != "mfa"))
# The amr that marks a login as multi-factor: a password and a factor, or a passkey.
MFA_LOGIN_AMR: tuple[str, ...] = ("mfa", *PASSKEY.amr[:1])


def removed_on(path: str) -> tuple[Kind, ...]:
    """The kinds that removal path deletes."""
    return tuple(k for k in KINDS if path in k.removed_by)


def kind(name: str) -> Kind:
    """The declared kind of that name (KeyError for an undeclared one)."""
    return BY_NAME[name]


def amr_of(name: str) -> list[str]:
    """The amr of a login completed with that kind."""
    return list(BY_NAME[name].amr)


def is_mfa_device(name: str) -> bool:
    """Whether a stored row of that kind is one of the user's MFA devices."""
    return name in DEVICE_KINDS


def lifecycle_table() -> str:
    """The lifecycle of every kind as a Markdown table: what the README states and
    `mfa-admin lifecycle` prints (a test keeps the README's copy equal to this)."""
    from shared.mfa.policies import Policy  # the windows' defaults; policies imports us

    def create(k: Kind) -> str:
        if k.storage == HOST:
            return "the host's address"
        if k is RECOVERY:
            return "with the first factor"
        if k.storage == TRUSTED:
            return "an MFA login that asks to remember"
        if k.imported_only:
            return "an operator's import"
        window = f"`{k.created_within}`"
        default = getattr(Policy, k.created_within)
        return (f"fresh MFA, {window} ({default} s)" if k.fresh
                else f"{window} (off: {default})")

    def on(k: Kind, path: str) -> str:
        if k.storage == HOST:
            return "-"
        return "removed" if path in k.removed_by else "kept"

    rows = ["| kind | listed | cap | strategy | created with | reset (API, CLI, vendor) "
            "| unenroll | recover | the user | forced import |",
            "|---|---|--:|---|---|---|---|---|---|---|"]
    for k in KINDS:
        cap = f"{k.cap} (`{k.cap_setting}`)" if k.stored and k.cap else (
            str(k.cap) if k.cap else "-")
        rows.append(" | ".join((
            f"| {k.label} (`{k.name}`)", "yes" if k.listed else "no", cap,
            ", ".join(k.strategies) or "-", create(k), on(k, RESET), on(k, UNENROLL),
            on(k, RECOVER), "removes one" if USER in k.removed_by else "-",
            "forgotten" if FORCED_IMPORT in k.removed_by else on(k, FORCED_IMPORT))) + " |")
    return "\n".join(rows)
