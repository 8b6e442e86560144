"""The SMS service's own settings (MFA_SMS_*, MFA_TWILIO_*), read in create_app; the code
lifetime (MFA_SMS_CODE_TTL) is a shared setting: the operators service reports it too."""

from __future__ import annotations

from dataclasses import dataclass

from shared.settings import (
    Settings,
    check_outbound_url,
    env_bool,
    env_float,
    env_int,
    env_list,
    env_str,
)

PROVIDERS = ("console", "twilio", "webhook")


@dataclass(frozen=True)
class SmsConfig:
    """Provider choice and credentials, code lifetime, and the pumping controls."""

    provider: str = "console"
    console_log_codes: bool = False
    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    twilio_from: str = ""
    twilio_base_url: str = "https://api.twilio.com"
    webhook_url: str = ""
    webhook_secret: str = ""
    provider_timeout: float = 10.0
    code_ttl: int = 300
    code_digits: int = 6
    resend_cooldown: int = 30
    user_hourly: int = 5
    phone_hourly: int = 5
    ip_hourly: int = 20
    tenant_hourly: int = 1000
    allowed_country_codes: tuple[str, ...] = ()
    default_region: str = ""
    # Alerting budgets (sends an hour) per calling code, "*" for the others: exported as
    # mfa_sms_hourly_budget for deploy/monitoring's alert; nothing is refused by them.
    country_budgets: tuple[tuple[str, int], ...] = ()

    def validate(self) -> None:
        """Refuse settings that cannot work."""
        if self.provider not in PROVIDERS:
            raise ValueError(f"MFA_SMS_PROVIDER must be one of {', '.join(PROVIDERS)}")
        if self.provider == "twilio" and not (self.twilio_account_sid and self.twilio_auth_token
                                              and self.twilio_from):
            raise ValueError("MFA_SMS_PROVIDER=twilio needs MFA_TWILIO_ACCOUNT_SID, "
                             "MFA_TWILIO_AUTH_TOKEN and MFA_TWILIO_FROM")
        if self.provider == "webhook" and (not self.webhook_url
                                           or len(self.webhook_secret) < 16):
            raise ValueError("MFA_SMS_PROVIDER=webhook needs MFA_SMS_WEBHOOK_URL and an "
                             "MFA_SMS_WEBHOOK_SECRET of at least 16 characters")
        if self.provider == "webhook":
            check_outbound_url("MFA_SMS_WEBHOOK_URL", self.webhook_url)  # body: number, code
        if not 6 <= self.code_digits <= 10:
            raise ValueError("MFA_SMS_CODE_DIGITS must be between 6 and 10")
        if self.provider_timeout <= 0:
            raise ValueError("MFA_SMS_PROVIDER_TIMEOUT must be positive")
        if any(not c.isdigit() or len(c) > 3 for c in self.allowed_country_codes):
            raise ValueError("MFA_SMS_ALLOWED_COUNTRY_CODES holds calling codes such as 1,44")
        if any(not (c == "*" or c.isdigit() and len(c) <= 3) or n < 0
               for c, n in self.country_budgets):
            raise ValueError("MFA_SMS_COUNTRY_BUDGETS holds CODE=SENDS pairs such as 44=200,*=1000")


def _budgets(items: tuple[str, ...]) -> tuple[tuple[str, int], ...]:
    out = []
    for item in items:
        code, _, sends = item.partition("=")
        try:
            out.append((code.strip().lstrip("+"), int(sends)))
        except ValueError:
            raise ValueError("MFA_SMS_COUNTRY_BUDGETS holds CODE=SENDS pairs such as "
                             "44=200,*=1000") from None
    return tuple(out)


def load(settings: Settings, *, embedded: bool = False) -> SmsConfig:
    """Read and check the settings; a configuration that cannot send is an error (embedded:
    the console provider writes codes to the log unless told otherwise)."""
    env = settings.env
    c = SmsConfig(
        provider=env_str(env, "MFA_SMS_PROVIDER", "console").lower(),
        console_log_codes=env_bool(env, "MFA_SMS_CONSOLE_LOG_CODES", embedded),
        twilio_account_sid=env_str(env, "MFA_TWILIO_ACCOUNT_SID"),
        twilio_auth_token=env_str(env, "MFA_TWILIO_AUTH_TOKEN"),
        twilio_from=env_str(env, "MFA_TWILIO_FROM"),
        twilio_base_url=env_str(env, "MFA_TWILIO_BASE_URL", "https://api.twilio.com").rstrip("/"),
        webhook_url=env_str(env, "MFA_SMS_WEBHOOK_URL"),
        webhook_secret=env_str(env, "MFA_SMS_WEBHOOK_SECRET"),
        provider_timeout=env_float(env, "MFA_SMS_PROVIDER_TIMEOUT", 10.0),
        code_ttl=settings.sms_code_ttl,
        code_digits=env_int(env, "MFA_SMS_CODE_DIGITS", 6),
        resend_cooldown=env_int(env, "MFA_SMS_RESEND_COOLDOWN", 30),
        user_hourly=env_int(env, "MFA_SMS_USER_HOURLY_LIMIT", 5),
        phone_hourly=env_int(env, "MFA_SMS_PHONE_HOURLY_LIMIT", 5),
        ip_hourly=env_int(env, "MFA_SMS_IP_HOURLY_LIMIT", 20),
        tenant_hourly=env_int(env, "MFA_SMS_TENANT_HOURLY_LIMIT", 1000),
        allowed_country_codes=tuple(c.lstrip("+") for c in env_list(
            env, "MFA_SMS_ALLOWED_COUNTRY_CODES")),
        default_region=env_str(env, "MFA_SMS_DEFAULT_REGION").upper(),
        country_budgets=_budgets(env_list(env, "MFA_SMS_COUNTRY_BUDGETS")),
    )
    c.validate()
    return c
