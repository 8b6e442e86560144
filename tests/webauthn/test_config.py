"""MFA_WEBAUTHN_* settings: defaults, several origins, and refusing what cannot work."""

from __future__ import annotations

import pytest

from services.webauthn.config import WebAuthnConfig, load
from shared.settings import Settings


def _config(**env: str) -> WebAuthnConfig:
    return load(Settings.from_env(env))


def test_defaults_suit_the_embedded_gateway_on_localhost() -> None:
    cfg = _config()
    assert cfg.rp_id == "localhost" and cfg.rp_name == "MFA"
    assert cfg.origins == ("http://localhost:8080", "https://localhost")
    assert cfg.attestation == "none" and cfg.timeout_ms == 60000 and cfg.demo is False
    assert cfg.challenge_ttl == 120


def test_several_origins_on_the_rp_id_and_its_subdomains() -> None:
    cfg = _config(MFA_WEBAUTHN_RP_ID="Example.com", MFA_WEBAUTHN_RP_NAME="Example",
                  MFA_WEBAUTHN_ORIGINS="https://example.com/, https://login.example.com:8443",
                  MFA_WEBAUTHN_ATTESTATION="direct", MFA_WEBAUTHN_TIMEOUT_MS="30000")
    assert cfg.rp_id == "example.com"
    assert cfg.origins == ("https://example.com", "https://login.example.com:8443")
    assert cfg.attestation == "direct" and cfg.timeout_ms == 30000
    assert _config(MFA_WEBAUTHN_RP_ID="example.com").origins == ("https://example.com",)


@pytest.mark.parametrize(("env", "message"), [
    ({"MFA_WEBAUTHN_RP_ID": "https://example.com"}, "bare host"),
    ({"MFA_WEBAUTHN_RP_ID": "example.com:443"}, "bare host"),
    ({"MFA_WEBAUTHN_RP_ID": "example.com", "MFA_WEBAUTHN_ORIGINS": "https://evil.com"},
     "not on the RP id"),
    ({"MFA_WEBAUTHN_RP_ID": "example.com", "MFA_WEBAUTHN_ORIGINS": "https://notexample.com"},
     "not on the RP id"),
    ({"MFA_WEBAUTHN_RP_ID": "example.com", "MFA_WEBAUTHN_ORIGINS": "http://example.com"},
     "must use https"),
    ({"MFA_WEBAUTHN_ORIGINS": "localhost:8080"}, "scheme://host"),
    ({"MFA_WEBAUTHN_ORIGINS": "http://localhost:8080/login"}, "scheme://host"),
    ({"MFA_WEBAUTHN_ATTESTATION": "always"}, "MFA_WEBAUTHN_ATTESTATION"),
    ({"MFA_WEBAUTHN_TIMEOUT_MS": "10"}, "MFA_WEBAUTHN_TIMEOUT_MS"),
])
def test_settings_that_cannot_work_refuse_to_start(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _config(**env)
