"""The support console's settings (MFA_CONSOLE_*), read in the operators' create_app."""

from __future__ import annotations

from dataclasses import dataclass

from shared.settings import Settings, env_bool, env_int, env_str

# The console's pages, on the operators' internal side (gateway/routes.py INTERNAL_ROUTES).
PREFIX = "/internal/console"
ROLES = ("support", "admin")  # read-only support, acting admin


@dataclass(frozen=True)
class ConsoleConfig:
    """Who may sign in and how: an OIDC provider (authorization code with PKCE) whose ID
    token's `roles_claim` grants `support_role` (read only) or `admin_role` (acts); and/or the
    internal API key (on by default only in embedded mode, for trying the console)."""

    enabled: bool = True
    url: str = ""  # where the browser opens the console (the OIDC redirect is built on it)
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    oidc_scopes: str = "openid profile"
    roles_claim: str = "roles"
    support_role: str = "mfa-support"
    admin_role: str = "mfa-admin"
    key_signin: bool = False
    idle_timeout: int = 900
    max_age: int = 8 * 3600

    @property
    def oidc(self) -> bool:
        """Whether sign-in with the identity provider is configured."""
        return bool(self.oidc_issuer)

    @property
    def redirect_uri(self) -> str:
        """The OIDC redirect URI to register at the identity provider."""
        return f"{self.url}/oidc/callback"

    def validate(self) -> None:
        """Refuse a configuration that cannot sign anyone in safely."""
        if self.oidc and not (self.oidc_client_id and self.url):
            raise ValueError("MFA_CONSOLE_OIDC_ISSUER needs MFA_CONSOLE_OIDC_CLIENT_ID and "
                             "MFA_CONSOLE_URL")
        if self.url and not self.url.startswith(("https://", "http://localhost",
                                                 "http://127.0.0.1")):
            raise ValueError("MFA_CONSOLE_URL must be https:// (or http://localhost)")
        if not 60 <= self.idle_timeout <= 86400:
            raise ValueError("MFA_CONSOLE_IDLE_TIMEOUT must be between 60 and 86400 seconds")
        if self.support_role == self.admin_role:
            raise ValueError("MFA_CONSOLE_SUPPORT_ROLE and MFA_CONSOLE_ADMIN_ROLE must differ")


def load(settings: Settings, *, embedded: bool = False) -> ConsoleConfig:
    """Read and check the console's settings (key sign-in defaults to on only embedded)."""
    env = settings.env
    c = ConsoleConfig(
        enabled=env_bool(env, "MFA_CONSOLE", True),
        url=env_str(env, "MFA_CONSOLE_URL").rstrip("/"),
        oidc_issuer=env_str(env, "MFA_CONSOLE_OIDC_ISSUER").rstrip("/"),
        oidc_client_id=env_str(env, "MFA_CONSOLE_OIDC_CLIENT_ID"),
        oidc_client_secret=env_str(env, "MFA_CONSOLE_OIDC_CLIENT_SECRET"),
        oidc_scopes=env_str(env, "MFA_CONSOLE_OIDC_SCOPES", "openid profile"),
        roles_claim=env_str(env, "MFA_CONSOLE_ROLES_CLAIM", "roles"),
        support_role=env_str(env, "MFA_CONSOLE_SUPPORT_ROLE", "mfa-support"),
        admin_role=env_str(env, "MFA_CONSOLE_ADMIN_ROLE", "mfa-admin"),
        key_signin=env_bool(env, "MFA_CONSOLE_KEY_SIGNIN", embedded),
        idle_timeout=env_int(env, "MFA_CONSOLE_IDLE_TIMEOUT", 900),
        max_age=env_int(env, "MFA_CONSOLE_MAX_AGE", 8 * 3600),
    )
    c.validate()
    return c
