"""The email factor's settings (MFA_EMAIL_* and MFA_SMTP_*), read once in create_app; the
code lifetime and the sender (MFA_EMAIL_CODE_TTL, MFA_SMTP_FROM) are shared settings: the
operators service reports them too."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from email.headerregistry import Address
from email.utils import parseaddr

from shared.settings import (
    Settings,
    env_float,
    env_int,
    env_int_renamed,
    env_str,
)

TLS_MODES = ("starttls", "implicit", "none")
# Submission ports: 587 with STARTTLS (RFC 6409), 465 with implicit TLS (RFC 8314), 25 plain.
DEFAULT_PORTS = {"starttls": 587, "implicit": 465, "none": 25}


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to submit mail."""

    host: str
    port: int
    tls: str
    sender: str
    username: str = ""
    password: str = ""
    timeout: float = 8.0
    ca_file: str = ""


@dataclass(frozen=True)
class EmailConfig:
    """Code shape, lifetimes and send limits of the email factor; smtp None = not configured."""

    digits: int = 6
    code_ttl: int = 300
    cooldown: int = 30
    user_hourly: int = 5
    user_window: int = 3600
    tenant_hourly: int = 1000
    tenant_window: int = 3600
    smtp: SmtpConfig | None = None


def _smtp(env: Mapping[str, str], sender: str) -> SmtpConfig | None:
    host = env_str(env, "MFA_SMTP_HOST")
    if not host:
        return None
    tls = env_str(env, "MFA_SMTP_TLS", "starttls").lower()
    if tls not in TLS_MODES:
        raise ValueError(f"MFA_SMTP_TLS must be one of {', '.join(TLS_MODES)}")
    if "@" not in parseaddr(sender)[1]:
        raise ValueError("MFA_SMTP_FROM must be an email address when MFA_SMTP_HOST is set")
    cfg = SmtpConfig(host=host, port=env_int(env, "MFA_SMTP_PORT", DEFAULT_PORTS[tls]), tls=tls,
                     sender=sender, username=env_str(env, "MFA_SMTP_USERNAME"),
                     password=env.get("MFA_SMTP_PASSWORD", ""),
                     timeout=env_float(env, "MFA_SMTP_TIMEOUT", 8.0),
                     ca_file=env_str(env, "MFA_SMTP_CA_FILE"))
    if cfg.username and cfg.tls == "none":
        raise ValueError("MFA_SMTP_USERNAME needs MFA_SMTP_TLS=starttls or implicit "
                         "(credentials are never sent in clear)")
    if bool(cfg.username) != bool(cfg.password):
        raise ValueError("MFA_SMTP_USERNAME and MFA_SMTP_PASSWORD go together")
    if cfg.ca_file and not os.path.isfile(cfg.ca_file):
        raise ValueError("MFA_SMTP_CA_FILE is not a readable file")
    if not 0 < cfg.timeout <= 60 or not 0 < cfg.port < 65536:
        raise ValueError("MFA_SMTP_TIMEOUT must be in (0, 60] and MFA_SMTP_PORT a TCP port")
    return cfg


def load(settings: Settings) -> EmailConfig:
    """The email factor's settings; a bad value is a configuration error at startup."""
    env = settings.env
    cfg = EmailConfig(
        digits=env_int(env, "MFA_EMAIL_CODE_DIGITS", 6),
        code_ttl=settings.email_code_ttl,
        cooldown=env_int(env, "MFA_EMAIL_RESEND_COOLDOWN", 30),
        user_hourly=env_int_renamed(env, "MFA_EMAIL_USER_HOURLY_LIMIT",
                                    "MFA_EMAIL_USER_HOURLY_CAP", 5),
        tenant_hourly=env_int_renamed(env, "MFA_EMAIL_TENANT_HOURLY_LIMIT",
                                      "MFA_EMAIL_TENANT_HOURLY_CAP", 1000),
        smtp=_smtp(env, settings.smtp_from),
    )
    # NIST SP 800-63B 5.1.3: out-of-band secrets of at least 6 decimal digits.
    if not 6 <= cfg.digits <= 8:
        raise ValueError("MFA_EMAIL_CODE_DIGITS must be 6, 7 or 8")
    if cfg.cooldown < 0 or cfg.user_hourly < 0 or cfg.tenant_hourly < 0:
        raise ValueError("MFA_EMAIL_RESEND_COOLDOWN and the hourly limits must not be negative")
    return cfg


def sender_address(cfg: SmtpConfig) -> Address:
    """The From address (display name optional)."""
    name, addr = parseaddr(cfg.sender)
    return Address(display_name=name, addr_spec=addr)
