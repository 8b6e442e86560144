"""Settings of the totp service (MFA_TOTP_*), read from the environment in create_app."""

from __future__ import annotations

from dataclasses import dataclass

from shared.mfa import hotp
from shared.settings import Settings, env_int

_MAX_WINDOW = 3  # more than +-90 s of drift makes a code guessable for too long
_MAX_DRIFT = 5  # how far (in steps) a learned clock offset may move the window


@dataclass(frozen=True)
class TotpConfig:
    """What the TOTP factor needs beyond the shared settings."""

    issuer: str
    window: int = 1
    enroll_ttl: int = 600
    max_drift: int = 2
    hotp_look_ahead: int = hotp.LOOK_AHEAD

    def bounded(self, drift: int) -> int:
        """A learned drift within +-max_drift steps."""
        return max(-self.max_drift, min(self.max_drift, drift))


def load(settings: Settings) -> TotpConfig:
    """MFA_TOTP_WINDOW, MFA_TOTP_ENROLL_TTL, MFA_TOTP_MAX_DRIFT, MFA_ISSUER_NAME and
    MFA_HOTP_LOOK_AHEAD."""
    window = env_int(settings.env, "MFA_TOTP_WINDOW", 1)
    ttl = env_int(settings.env, "MFA_TOTP_ENROLL_TTL", 600)
    drift = env_int(settings.env, "MFA_TOTP_MAX_DRIFT", 2)
    if not 0 <= window <= _MAX_WINDOW:
        raise ValueError(f"MFA_TOTP_WINDOW must be between 0 and {_MAX_WINDOW}")
    if not 60 <= ttl <= 86400:
        raise ValueError("MFA_TOTP_ENROLL_TTL must be between 60 and 86400 seconds")
    if not 0 <= drift <= _MAX_DRIFT:
        raise ValueError(f"MFA_TOTP_MAX_DRIFT must be between 0 and {_MAX_DRIFT}")
    return TotpConfig(issuer=settings.issuer_name, window=window, enroll_ttl=ttl, max_drift=drift,
                      hotp_look_ahead=hotp.look_ahead(settings.env))
