"""Settings from the environment (12-factor). Read in create_app, never at import time."""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parseaddr
from urllib.parse import urlsplit

from shared.http.caller import ADDRESS_FORMS
from shared.http.client_ip import parse_networks
from shared.mfa.registry import BY_NAME, KINDS, STRATEGIES

SERVICES = ("session", "totp", "sms", "email", "webauthn", "operators")
ENFORCE_TYPES = ("DontForce", "Force", "ForceExceptSAML")
MIN_INTERNAL_KEY = 32  # characters; a split-mode service refuses a shorter internal API key
# One range for every one-time code's lifetime set in the environment (SMS and email): a minute
# for the code to arrive and be typed, at most 15 minutes of guessing against one code.
CODE_TTL_RANGE = (60, 900)
# An access token cannot be revoked before it expires: a minute at least, a day at most.
ACCESS_TOKEN_TTL_RANGE = (60, 86400)
# A lockout record expires this long after the last attempt on it: longer than the longest
# delay (15 minutes) by far, at most a year.
LOCKOUT_TTL_RANGE = (3600, 365 * 86400)
# A per-user cap of one kind of credential: at least one, and few enough that every session
# start and the MFA session record stay small (docs/configuration.md).
DEVICE_CAP_RANGE = (1, 50)

log = logging.getLogger("mfa.settings")


def env_str(env: Mapping[str, str], name: str, default: str = "") -> str:
    """A string setting, stripped."""
    return env.get(name, default).strip()


def env_int(env: Mapping[str, str], name: str, default: int) -> int:
    """An integer setting; a bad value is a configuration error."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer") from None


def env_int_renamed(env: Mapping[str, str], name: str, old: str, default: int) -> int:
    """An integer setting that was renamed: the new name wins; the old one still works, with a
    warning that names the new one."""
    if not env.get(old, "").strip():
        return env_int(env, name, default)
    if env.get(name, "").strip():
        log.warning("%s is deprecated and ignored: %s is set", old, name)
        return env_int(env, name, default)
    log.warning("%s is deprecated: set %s instead", old, name)
    return env_int(env, old, default)


def check_range(name: str, value: int, bounds: tuple[int, int], unit: str = "seconds") -> None:
    """Refuse a value outside [low, high], naming the setting."""
    low, high = bounds
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high} {unit}, not {value}")


def env_float(env: Mapping[str, str], name: str, default: float) -> float:
    """A float setting."""
    raw = env.get(name, "").strip()
    return float(raw) if raw else default


def env_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    """A boolean setting (1/true/yes/on)."""
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    return raw in ("1", "true", "yes", "on")


def env_list(env: Mapping[str, str], name: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
    """A comma-separated list setting."""
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    return tuple(item.strip() for item in raw.split(",") if item.strip())


# Hosts a plain-http outbound URL may name: the machine itself, a private address (RFC 1918,
# ULA: a pod or VPC address), or a name that only resolves inside the deployment's own network
# (a single label, *.svc, *.cluster.local, and *.internal, the top-level name reserved for
# private networks); the traffic stays off networks the deployment does not own. Anything else
# must be https.
CLUSTER_LOCAL_SUFFIXES = (".svc", ".cluster.local", ".internal")


def check_outbound_url(name: str, url: str) -> None:
    """Refuse an outbound URL (webhooks) that is not https, unless its host is loopback or
    cluster-local; the value is never echoed (it may hold credentials)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").rstrip(".").lower()
    if parts.scheme == "https" and host:
        return
    if parts.scheme != "http" or not host:
        raise ValueError(f"{name} must be an https:// URL")
    try:
        address = ipaddress.ip_address(host)
        local = address.is_loopback or address.is_private and not address.is_unspecified
    except ValueError:
        local = host == "localhost" or "." not in host or host.endswith(CLUSTER_LOCAL_SUFFIXES)
    if not local:
        raise ValueError(f"{name} must be https:// (plain http only to a loopback or "
                         "private host: a private address, a single-label name, *.svc, "
                         "*.cluster.local, *.internal)")


@dataclass(frozen=True)
class Settings:
    """Every setting shared by the gateway and the services; see docs/configuration.md."""

    host: str = "127.0.0.1"
    port: int = 8080
    log_level: str = "INFO"
    var_dir: str = "var"
    redis_url: str = ""
    redis_prefix: str = "mfa:"
    database_url: str = ""
    database_statement_cache: int = 100
    database_allow_unverified_tls: bool = False
    migrations_database_url: str = ""
    internal_api_key: str = ""
    expose_internal_api: bool = False
    jwt_private_key: str = ""
    jwt_key_id: str = ""
    jwt_extra_public_keys: str = ""
    jwt_issuer: str = "mfa-service"
    jwt_audience: str = ""
    access_token_ttl: int = 3600
    sms_code_ttl: int = 300
    email_code_ttl: int = 300
    smtp_from: str = ""
    email_sender_domains: tuple[str, ...] = ()
    host_jwks: str = ""
    host_jwt_issuer: str = ""
    host_jwt_audience: str = ""
    encryption_keys: str = ""
    hmac_key: str = ""
    mount_prefix: str = "/frontegg/identity"
    max_body_bytes: int = 64 * 1024
    upstream_timeout: float = 10.0
    upstream_connect_timeout: float = 1.0
    cors_origins: tuple[str, ...] = ()
    upstreams: dict[str, str] = field(default_factory=dict)
    shutdown_grace: float = 20.0
    reuse_port: bool = False
    mfa_token_ttl: int = 600
    mfa_token_max_failures: int = 5
    lockout_delay_after: int = 5
    lockout_max_failures: int = 50
    lockout_ttl: int = 7 * 86400
    recovery_attempts: int = 10
    step_up_max_age: int = 3600
    recovery_ip_limit: int = 50
    recovery_window: int = 3600
    recovery_email_limit: int = 100
    enforce_mfa: str = "Force"
    default_strategies: tuple[str, ...] = ("AuthenticatorApp", "WebAuthnPlatform",
                                           "WebAuthnCrossPlatform", "Passkeys")
    # Per-user caps of the kinds stored as device rows (registry `cap`, MFA_MAX_<KIND>_PER_USER).
    device_caps: dict[str, int] = field(default_factory=lambda: {
        k.name: k.cap for k in KINDS if k.stored and k.cap})
    allow_remember_device: bool = False
    device_expiration: int = 30 * 86400
    device_expiration_cap: int = 90 * 86400
    remember_cookie: str = "mfa-remember-device"
    admin_claim: str = "roles"
    admin_value: str = "Admin"
    vendor_claim: str = ""
    vendor_value: str = "vendor"
    vendor_accepts_internal_key: bool = False
    vendor_unbound: bool = False
    notifications: bool = False
    webhook_urls: tuple[str, ...] = ()
    webhook_secret: str = ""
    webhook_timeout: float = 5.0
    webhook_max_backoff: float = 600.0
    audit_retention_days: float = 0.0  # 0: audit rows are kept for ever
    outbox_retention_days: float = 30.0
    prune_interval: float = 3600.0  # seconds between the operators service's prune runs
    issuer_name: str = "MFA"
    trusted_proxies: tuple[str, ...] = ()
    audit_address: str = "subscriber"
    metrics_port: int = 0
    ready_timeout: float = 1.0
    env: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read every setting from the environment (or the mapping given)."""
        e = dict(os.environ if env is None else env)
        upstreams = {name: env_str(e, f"MFA_{name.upper()}_URL") for name in SERVICES}
        s = cls(
            host=env_str(e, "MFA_HOST", "127.0.0.1"),
            port=env_int(e, "MFA_PORT", 8080),
            log_level=env_str(e, "MFA_LOG_LEVEL", "INFO").upper(),
            var_dir=env_str(e, "MFA_VAR_DIR", "var"),
            redis_url=env_str(e, "MFA_REDIS_URL"),
            redis_prefix=env_str(e, "MFA_REDIS_PREFIX", "mfa:"),
            database_url=env_str(e, "MFA_DATABASE_URL"),
            database_statement_cache=env_int(e, "MFA_DATABASE_STATEMENT_CACHE", 100),
            database_allow_unverified_tls=env_bool(e, "MFA_DATABASE_ALLOW_UNVERIFIED_TLS", False),
            migrations_database_url=env_str(e, "MFA_MIGRATIONS_DATABASE_URL"),
            internal_api_key=env_str(e, "MFA_INTERNAL_API_KEY"),
            expose_internal_api=env_bool(e, "MFA_EXPOSE_INTERNAL_API", False),
            jwt_private_key=e.get("MFA_JWT_PRIVATE_KEY", ""),
            jwt_key_id=env_str(e, "MFA_JWT_KEY_ID"),
            jwt_extra_public_keys=env_str(e, "MFA_JWT_EXTRA_PUBLIC_KEYS"),
            jwt_issuer=env_str(e, "MFA_JWT_ISSUER", "mfa-service"),
            jwt_audience=env_str(e, "MFA_JWT_AUDIENCE"),
            access_token_ttl=env_int(e, "MFA_ACCESS_TOKEN_TTL", 3600),
            sms_code_ttl=env_int(e, "MFA_SMS_CODE_TTL", 300),
            email_code_ttl=env_int(e, "MFA_EMAIL_CODE_TTL", 300),
            smtp_from=env_str(e, "MFA_SMTP_FROM"),
            email_sender_domains=tuple(d.lower().lstrip("@") for d in
                                       env_list(e, "MFA_EMAIL_SENDER_DOMAINS")),
            host_jwks=env_str(e, "MFA_HOST_JWKS"),
            host_jwt_issuer=env_str(e, "MFA_HOST_JWT_ISSUER"),
            host_jwt_audience=env_str(e, "MFA_HOST_JWT_AUDIENCE"),
            encryption_keys=env_str(e, "MFA_ENCRYPTION_KEYS"),
            hmac_key=env_str(e, "MFA_HMAC_KEY"),
            mount_prefix=env_str(e, "MFA_MOUNT_PREFIX", "/frontegg/identity").rstrip("/"),
            max_body_bytes=env_int(e, "MFA_MAX_BODY_BYTES", 64 * 1024),
            upstream_timeout=env_float(e, "MFA_UPSTREAM_TIMEOUT", 10.0),
            upstream_connect_timeout=env_float(e, "MFA_UPSTREAM_CONNECT_TIMEOUT", 1.0),
            cors_origins=env_list(e, "MFA_CORS_ORIGINS"),
            upstreams={k: v for k, v in upstreams.items() if v},
            shutdown_grace=env_float(e, "MFA_SHUTDOWN_GRACE", 20.0),
            reuse_port=env_bool(e, "MFA_REUSE_PORT", False),
            mfa_token_ttl=env_int(e, "MFA_TOKEN_TTL", 600),
            mfa_token_max_failures=env_int(e, "MFA_TOKEN_MAX_FAILURES", 5),
            lockout_delay_after=env_int(e, "MFA_LOCKOUT_DELAY_AFTER", 5),
            lockout_max_failures=env_int(e, "MFA_LOCKOUT_MAX_FAILURES", 50),
            lockout_ttl=env_int(e, "MFA_LOCKOUT_TTL", 7 * 86400),
            recovery_attempts=env_int(e, "MFA_RECOVERY_ATTEMPTS", 10),
            step_up_max_age=env_int(e, "MFA_STEP_UP_MAX_AGE", 3600),
            recovery_ip_limit=env_int_renamed(e, "MFA_RECOVERY_IP_LIMIT", "MFA_RECOVERY_IP_CAP",
                                              50),
            recovery_window=env_int(e, "MFA_RECOVERY_WINDOW", 3600),
            recovery_email_limit=env_int(e, "MFA_RECOVERY_EMAIL_LIMIT", 100),
            enforce_mfa=env_str(e, "MFA_ENFORCE", "Force"),
            default_strategies=env_list(e, "MFA_STRATEGIES", cls.default_strategies),
            device_caps={k.name: env_int(e, k.cap_setting, k.cap)
                         for k in KINDS if k.stored and k.cap},
            allow_remember_device=env_bool(e, "MFA_ALLOW_REMEMBER_DEVICE", False),
            device_expiration=env_int(e, "MFA_DEVICE_EXPIRATION", 30 * 86400),
            device_expiration_cap=env_int(e, "MFA_DEVICE_EXPIRATION_CAP", 90 * 86400),
            remember_cookie=env_str(e, "MFA_REMEMBER_COOKIE", "mfa-remember-device"),
            admin_claim=env_str(e, "MFA_ADMIN_CLAIM", "roles"),
            admin_value=env_str(e, "MFA_ADMIN_VALUE", "Admin"),
            vendor_claim=env_str(e, "MFA_VENDOR_CLAIM"),
            vendor_value=env_str(e, "MFA_VENDOR_VALUE", "vendor"),
            vendor_accepts_internal_key=env_bool(e, "MFA_VENDOR_ACCEPTS_INTERNAL_KEY", False),
            vendor_unbound=env_bool(e, "MFA_VENDOR_UNBOUND", False),
            notifications=env_bool(e, "MFA_NOTIFICATIONS", False),
            webhook_urls=env_list(e, "MFA_WEBHOOK_URLS"),
            webhook_secret=env_str(e, "MFA_WEBHOOK_SECRET"),
            webhook_timeout=env_float(e, "MFA_WEBHOOK_TIMEOUT", 5.0),
            webhook_max_backoff=env_float(e, "MFA_WEBHOOK_MAX_BACKOFF", 600.0),
            audit_retention_days=env_float(e, "MFA_AUDIT_RETENTION_DAYS", 0.0),
            outbox_retention_days=env_float(e, "MFA_OUTBOX_RETENTION_DAYS", 30.0),
            prune_interval=env_float(e, "MFA_PRUNE_INTERVAL", 3600.0),
            issuer_name=env_str(e, "MFA_ISSUER_NAME", "MFA"),
            trusted_proxies=env_list(e, "MFA_TRUSTED_PROXIES"),
            audit_address=env_str(e, "MFA_AUDIT_ADDRESS", "subscriber").lower(),
            metrics_port=env_int(e, "MFA_METRICS_PORT", 0),
            ready_timeout=env_float(e, "MFA_READY_TIMEOUT", 1.0),
            env=e,
        )
        s.validate()
        return s

    def validate(self) -> None:
        """Refuse settings that cannot work."""
        check_range("MFA_ACCESS_TOKEN_TTL", self.access_token_ttl, ACCESS_TOKEN_TTL_RANGE)
        check_range("MFA_SMS_CODE_TTL", self.sms_code_ttl, CODE_TTL_RANGE)
        check_range("MFA_EMAIL_CODE_TTL", self.email_code_ttl, CODE_TTL_RANGE)
        check_range("MFA_LOCKOUT_TTL", self.lockout_ttl, LOCKOUT_TTL_RANGE)
        if self.upstream_connect_timeout <= 0:  # above MFA_UPSTREAM_TIMEOUT, that applies
            raise ValueError("MFA_UPSTREAM_CONNECT_TIMEOUT must be > 0")
        if self.database_statement_cache < 0:
            raise ValueError("MFA_DATABASE_STATEMENT_CACHE must be >= 0")
        for name, days in (("MFA_AUDIT_RETENTION_DAYS", self.audit_retention_days),
                           ("MFA_OUTBOX_RETENTION_DAYS", self.outbox_retention_days),
                           ("MFA_PRUNE_INTERVAL", self.prune_interval)):
            if days < 0:
                raise ValueError(f"{name} must be >= 0 (0: never)")
        if self.enforce_mfa not in ENFORCE_TYPES:
            raise ValueError(f"MFA_ENFORCE must be one of {', '.join(ENFORCE_TYPES)}")
        for name, cap in self.device_caps.items():
            check_range(BY_NAME[name].cap_setting, cap, DEVICE_CAP_RANGE, "credentials")
        unknown = set(self.default_strategies) - set(STRATEGIES)
        if unknown:
            raise ValueError(f"MFA_STRATEGIES has unknown strategies: {sorted(unknown)}")
        if self.mount_prefix and not self.mount_prefix.startswith("/"):
            raise ValueError("MFA_MOUNT_PREFIX must start with /")
        if self.host_jwks and not (self.host_jwt_issuer and self.host_jwt_audience):
            # Without both, a token the IdP minted for any other application would pass.
            raise ValueError("MFA_HOST_JWKS needs MFA_HOST_JWT_ISSUER and MFA_HOST_JWT_AUDIENCE")
        if self.webhook_urls and len(self.webhook_secret) < 16:
            raise ValueError("MFA_WEBHOOK_URLS needs MFA_WEBHOOK_SECRET (at least 16 characters)")
        for url in self.webhook_urls:
            check_outbound_url("MFA_WEBHOOK_URLS", url)
        parse_networks(self.trusted_proxies)  # a bad CIDR is a start-up error
        if self.audit_address not in ADDRESS_FORMS:
            raise ValueError(f"MFA_AUDIT_ADDRESS must be one of {', '.join(ADDRESS_FORMS)}")

    def sender_allowed(self, address: str) -> bool:
        """Whether a tenant may send code mails from this address: its domain is one the
        operator approved (MFA_EMAIL_SENDER_DOMAINS; unset: MFA_SMTP_FROM's domain), since
        they leave through the deployment's own mail relay and credentials."""
        domains = self.email_sender_domains or (
            (parseaddr(self.smtp_from)[1].rpartition("@")[2].lower(),) if self.smtp_from else ())
        domain = address.rpartition("@")[2].lower()
        return bool(domain) and domain in domains

    def validate_split(self) -> None:
        """What split mode (a service with its own stores) needs beyond validate()."""
        if len(self.internal_api_key) < MIN_INTERNAL_KEY:
            raise ValueError(f"MFA_INTERNAL_API_KEY must be at least {MIN_INTERNAL_KEY} "
                             "characters in split mode (generate one: python -c 'import "
                             "secrets; print(secrets.token_urlsafe(32))')")
