"""Settings more than one process reads (shared.settings.Settings): one reader, one range,
refused at start with the setting's name; and renamed settings keep their old names."""

from __future__ import annotations

import logging

import pytest

from services.email.config import load as email_config
from services.operators.configuration import mfa_config
from services.sms.config import load as sms_config
from shared.settings import CODE_TTL_RANGE, Settings, env_int_renamed

NEW, OLD = "MFA_X_HOURLY_LIMIT", "MFA_X_HOURLY_CAP"


def test_the_new_name_is_read() -> None:
    assert env_int_renamed({NEW: "7"}, NEW, OLD, 5) == 7
    assert env_int_renamed({}, NEW, OLD, 5) == 5


def test_the_old_name_still_works_with_a_warning_naming_the_new_one(
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="mfa.settings"):
        assert env_int_renamed({OLD: "3"}, NEW, OLD, 5) == 3
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert OLD in caplog.text and NEW in caplog.text


def test_when_both_are_set_the_new_name_wins_and_the_old_one_is_called_ignored(
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="mfa.settings"):
        assert env_int_renamed({NEW: "9", OLD: "2"}, NEW, OLD, 5) == 9
    assert "ignored" in caplog.text and NEW in caplog.text


def test_no_warning_without_the_old_name(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="mfa.settings"):
        env_int_renamed({NEW: "9"}, NEW, OLD, 5)
    assert not caplog.records


@pytest.mark.parametrize("name", ["MFA_SMS_CODE_TTL", "MFA_EMAIL_CODE_TTL",
                                  "MFA_ACCESS_TOKEN_TTL"])
@pytest.mark.parametrize("value", ["0", "-300", "59", "86401"])
def test_a_lifetime_out_of_range_is_refused_with_its_name(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        Settings.from_env({name: value})


def test_both_code_lifetimes_share_one_range() -> None:
    low, high = CODE_TTL_RANGE
    for name in ("MFA_SMS_CODE_TTL", "MFA_EMAIL_CODE_TTL"):
        Settings.from_env({name: str(low)})
        Settings.from_env({name: str(high)})
        with pytest.raises(ValueError, match=name):
            Settings.from_env({name: str(high + 1)})


def test_the_access_token_lifetime_defaults_to_an_hour_and_takes_a_day_at_most() -> None:
    assert Settings.from_env({}).access_token_ttl == 3600
    assert Settings.from_env({"MFA_ACCESS_TOKEN_TTL": "86400"}).access_token_ttl == 86400


def test_sms_and_email_use_the_one_reader_of_their_lifetimes_and_sender() -> None:
    settings = Settings.from_env({"MFA_SMS_CODE_TTL": "120", "MFA_EMAIL_CODE_TTL": "600",
                                  "MFA_SMTP_HOST": "smtp.example.test",
                                  "MFA_SMTP_FROM": "mfa@example.test"})
    assert sms_config(settings).code_ttl == 120
    email = email_config(settings)
    assert email.code_ttl == 600 and email.smtp is not None
    assert email.smtp.sender == "mfa@example.test"


class _Policy:
    def allows(self, strategy: str) -> bool:
        return True


class _Policies:
    async def get(self, tenant_id: str) -> _Policy:
        return _Policy()


class _Configs:
    async def layered(self, kind: str, tenant_id: str) -> dict[str, object]:
        return {}


class _Stores:
    def __init__(self, settings: Settings) -> None:
        self.settings, self.policies, self.configs = settings, _Policies(), _Configs()


class _Caller:
    tenant_id = "t-1"


async def test_the_operators_report_the_lifetimes_and_sender_the_factors_use() -> None:
    settings = Settings.from_env({"MFA_SMS_CODE_TTL": "120", "MFA_EMAIL_CODE_TTL": "600",
                                  "MFA_SMTP_FROM": "mfa@example.test"})
    out = await mfa_config(_Stores(settings), _Caller())  # type: ignore[arg-type]
    assert out["sms"]["tokenLifetimeSeconds"] == sms_config(settings).code_ttl == 120
    assert out["email"]["tokenLifetimeSeconds"] == email_config(settings).code_ttl == 600
    assert out["email"]["sender"] == "mfa@example.test"


def test_the_recovery_address_limit_is_read_under_its_new_and_its_old_name(
        caplog: pytest.LogCaptureFixture) -> None:
    assert Settings.from_env({"MFA_RECOVERY_IP_LIMIT": "7"}).recovery_ip_limit == 7
    with caplog.at_level(logging.WARNING, logger="mfa.settings"):
        assert Settings.from_env({"MFA_RECOVERY_IP_CAP": "8"}).recovery_ip_limit == 8
    assert "MFA_RECOVERY_IP_LIMIT" in caplog.text


@pytest.mark.parametrize("url", ["http://sms.example.com/send", "http://1.2.3.4/hook",
                                 "ftp://sms.example.com", "https:///path", "sms.example.com"])
def test_outbound_webhooks_must_be_https_off_the_cluster(url: str) -> None:
    """The review's L12: the SMS webhook body carries the number and the code."""
    with pytest.raises(ValueError, match="MFA_SMS_WEBHOOK_URL must be") as e:
        sms_config(Settings.from_env({"MFA_SMS_PROVIDER": "webhook", "MFA_SMS_WEBHOOK_URL": url,
                                      "MFA_SMS_WEBHOOK_SECRET": "s" * 16}))
    assert url not in str(e.value)
    with pytest.raises(ValueError, match="MFA_WEBHOOK_URLS must be"):
        Settings.from_env({"MFA_WEBHOOK_URLS": f"https://ok.example.com,{url}",
                           "MFA_WEBHOOK_SECRET": "s" * 16})


@pytest.mark.parametrize("url", ["https://sms.example.com/send", "http://127.0.0.1:8080/x",
                                 "http://[::1]/x", "http://localhost/x", "http://sms-gateway/x",
                                 "http://sms.mfa.svc/x", "http://sms.mfa.svc.cluster.local:80/x",
                                 "http://sms-gateway.internal:9000/sms", "http://10.0.0.7/hook",
                                 "http://[fd00::7]:8080/hook"])
def test_https_loopback_and_cluster_local_urls_are_accepted(url: str) -> None:
    env = {"MFA_SMS_PROVIDER": "webhook", "MFA_SMS_WEBHOOK_URL": url,
           "MFA_SMS_WEBHOOK_SECRET": "s" * 16}
    assert sms_config(Settings.from_env(env)).webhook_url == url
    assert Settings.from_env({"MFA_WEBHOOK_URLS": url,
                              "MFA_WEBHOOK_SECRET": "s" * 16}).webhook_urls == (url,)
