"""Settings validation, language negotiation and template rendering (no server needed)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from services.email import config
from services.email.config import EmailConfig, sender_address
from services.email.message import Templates, build_message
from shared.clock import FrozenClock
from shared.settings import Settings

BASE = {"MFA_SMTP_HOST": "smtp.example.test", "MFA_SMTP_FROM": "MFA <no-reply@example.test>"}


def load(env: dict[str, str]) -> EmailConfig:
    """The email settings as the service reads them: through the shared Settings."""
    return config.load(Settings.from_env(env))


def test_defaults_are_six_digits_five_minutes_thirty_seconds_and_no_smtp() -> None:
    assert load({}) == EmailConfig()
    assert (EmailConfig().digits, EmailConfig().code_ttl, EmailConfig().cooldown) == (6, 300, 30)


@pytest.mark.parametrize(("tls", "port"), [("starttls", 587), ("implicit", 465), ("none", 25)])
def test_the_port_defaults_to_the_tls_modes_port(tls: str, port: int) -> None:
    smtp = load({**BASE, "MFA_SMTP_TLS": tls}).smtp
    assert smtp is not None and (smtp.tls, smtp.port) == (tls, port)


def test_the_sender_keeps_its_display_name() -> None:
    smtp = load(BASE).smtp
    assert smtp is not None
    assert str(sender_address(smtp)) == "MFA <no-reply@example.test>"


@pytest.mark.parametrize("env", [
    {"MFA_EMAIL_CODE_DIGITS": "5"},
    {"MFA_EMAIL_CODE_DIGITS": "9"},
    {"MFA_EMAIL_CODE_DIGITS": "six"},
    {"MFA_EMAIL_CODE_TTL": "30"},
    {"MFA_EMAIL_RESEND_COOLDOWN": "-1"},
    {**BASE, "MFA_SMTP_TLS": "ssl"},
    {**BASE, "MFA_SMTP_FROM": ""},
    {**BASE, "MFA_SMTP_FROM": "not an address"},
    {**BASE, "MFA_SMTP_TLS": "none", "MFA_SMTP_USERNAME": "u", "MFA_SMTP_PASSWORD": "p"},
    {**BASE, "MFA_SMTP_USERNAME": "u"},
    {**BASE, "MFA_SMTP_CA_FILE": "/nonexistent/ca.pem"},
    {**BASE, "MFA_SMTP_TIMEOUT": "0"},
    {**BASE, "MFA_SMTP_PORT": "70000"},
])
def test_settings_that_cannot_work_are_refused_at_startup(env: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="MFA_"):
        load(env)


@pytest.mark.parametrize(("header", "locale"), [
    ("de-AT,de;q=0.9,en;q=0.8", "de"),
    ("fr-CA", "fr"),
    ("en;q=0.1, es;q=0.9", "es"),
    ("xx, es;q=0.5", "es"),
    ("de;q=0, fr;q=0.2", "fr"),
    ("de;q=abc, fr;q=0.2", "fr"),
    ("de;level=1", "de"),
    ("*", "en"),
    ("", "en"),
    (None, "en"),
    ("tlh", "en"),
    ("x" * 5000 + ",de", "en"),
])
def test_the_language_is_negotiated_from_accept_language(header: str | None,
                                                         locale: str) -> None:
    assert Templates().negotiate(header) == locale


@pytest.mark.parametrize("locale", Templates().locales)
def test_every_locale_carries_the_code_and_its_lifetime_in_both_parts(locale: str) -> None:
    r = Templates().render(locale, code="48151623", minutes=5, issuer="Acme")
    for part in (r.subject, r.text, r.html):
        assert "48151623" in part and "Acme" in part
    assert " 5 " in r.text and " 5 " in r.html and "\n" not in r.subject


def test_values_are_escaped_in_the_html_part_only() -> None:
    r = Templates().render("en", code="123456", minutes=5, issuer="<b>A&B</b>")
    assert "&lt;b&gt;A&amp;B&lt;/b&gt;" in r.html and "<b>A&B</b>" in r.text


def test_a_template_folder_without_english_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'en'"):
        Templates(tmp_path)


def test_the_message_id_reveals_neither_time_nor_process() -> None:
    smtp = load(BASE).smtp
    assert smtp is not None
    r = Templates().render("en", code="123456", minutes=5, issuer="MFA")
    msg = build_message(r, sender=sender_address(smtp), to="u@example.test", clock=FrozenClock())
    local, domain = msg["Message-ID"].strip("<>").split("@")
    assert domain == "example.test" and len(local) == 32 and "." not in local


def test_the_hourly_limits_are_read_under_their_new_names() -> None:
    cfg = load({"MFA_EMAIL_USER_HOURLY_LIMIT": "7", "MFA_EMAIL_TENANT_HOURLY_LIMIT": "70"})
    assert (cfg.user_hourly, cfg.tenant_hourly) == (7, 70)


def test_the_old_cap_names_still_work_and_warn_with_the_new_name(
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="mfa.settings"):
        cfg = load({"MFA_EMAIL_USER_HOURLY_CAP": "3", "MFA_EMAIL_TENANT_HOURLY_CAP": "4"})
    assert (cfg.user_hourly, cfg.tenant_hourly) == (3, 4)
    assert "MFA_EMAIL_USER_HOURLY_LIMIT" in caplog.text
    assert "MFA_EMAIL_TENANT_HOURLY_LIMIT" in caplog.text


def test_the_new_limit_name_wins_over_the_old_one() -> None:
    cfg = load({"MFA_EMAIL_USER_HOURLY_LIMIT": "9", "MFA_EMAIL_USER_HOURLY_CAP": "2"})
    assert cfg.user_hourly == 9
