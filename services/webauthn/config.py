"""Settings of the webauthn service (MFA_WEBAUTHN_*), read in create_app."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from shared.settings import Settings, env_bool, env_int, env_list, env_str

ATTESTATIONS = ("none", "indirect", "direct", "enterprise")


@dataclass(frozen=True)
class WebAuthnConfig:
    """The relying party this deployment is, and how ceremonies are run."""

    rp_id: str
    rp_name: str
    origins: tuple[str, ...]
    attestation: str = "none"
    timeout_ms: int = 60000
    demo: bool = False
    passkey_challenges: int = 10000

    @property
    def challenge_ttl(self) -> int:
        """Seconds a webauthnToken lives: the browser's timeout plus a minute of slack."""
        return self.timeout_ms // 1000 + 60

    def validate(self) -> None:
        """A bad value is a configuration error at start-up, not a failed ceremony later."""
        if not self.rp_id or "/" in self.rp_id or ":" in self.rp_id:
            raise ValueError("MFA_WEBAUTHN_RP_ID must be a bare host name (no scheme, no port)")
        if self.attestation not in ATTESTATIONS:
            raise ValueError(f"MFA_WEBAUTHN_ATTESTATION must be one of {', '.join(ATTESTATIONS)}")
        if self.passkey_challenges < 1:
            raise ValueError("MFA_WEBAUTHN_PASSKEY_CHALLENGES must be at least 1")
        if not 1000 <= self.timeout_ms <= 600000:
            raise ValueError("MFA_WEBAUTHN_TIMEOUT_MS must be between 1000 and 600000")
        for origin in self.origins:
            check_origin(origin, self.rp_id)


def load(settings: Settings) -> WebAuthnConfig:
    """Read MFA_WEBAUTHN_* from the settings' environment; refuse what cannot work."""
    e: Mapping[str, str] = settings.env
    rp_id = env_str(e, "MFA_WEBAUTHN_RP_ID", "localhost").lower()
    cfg = WebAuthnConfig(
        rp_id=rp_id,
        rp_name=env_str(e, "MFA_WEBAUTHN_RP_NAME", settings.issuer_name),
        origins=tuple(o.rstrip("/") for o in env_list(e, "MFA_WEBAUTHN_ORIGINS",
                                                       default_origins(rp_id))),
        attestation=env_str(e, "MFA_WEBAUTHN_ATTESTATION", "none").lower(),
        timeout_ms=env_int(e, "MFA_WEBAUTHN_TIMEOUT_MS", 60000),
        demo=env_bool(e, "MFA_WEBAUTHN_DEMO", False),
        passkey_challenges=env_int(e, "MFA_WEBAUTHN_PASSKEY_CHALLENGES", 10000),
    )
    cfg.validate()
    return cfg
def default_origins(rp_id: str) -> tuple[str, ...]:
    """https://<rp id>; for localhost also the embedded gateway's own http://localhost:8080."""
    if rp_id == "localhost":
        return ("http://localhost:8080", "https://localhost")
    return (f"https://{rp_id}",)


def check_origin(origin: str, rp_id: str) -> None:
    """An origin is scheme://host[:port] whose host is the RP id or a subdomain of it
    (WebAuthn L2 section 5.1.3 step 8 makes any other origin fail every ceremony)."""
    parts = urlsplit(origin)
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or parts.path or parts.query or not host:
        raise ValueError(f"MFA_WEBAUTHN_ORIGINS: {origin!r} is not scheme://host[:port]")
    if parts.scheme == "http" and host != "localhost":
        raise ValueError(f"MFA_WEBAUTHN_ORIGINS: {origin!r} must use https (only localhost "
                         "may use http)")
    if host != rp_id and not host.endswith("." + rp_id):
        raise ValueError(f"MFA_WEBAUTHN_ORIGINS: {origin!r} is not on the RP id {rp_id!r}")
