"""Phone normalisation and masking, the locale pick, and the client-address bucket (shared)."""

from __future__ import annotations

import pytest

from services.sms.templates import pick_locale, render
from shared.http.client_ip import ip_bucket
from shared.mfa.phones import (
    InvalidPhone,
    Phone,
    check_country,
    check_pattern,
    from_e164,
    parse_phone,
)


@pytest.mark.parametrize("raw, e164", [
    ("+1 (201) 555-0123", "+12015550123"),
    ("+44 7911 123456", "+447911123456"),
    ("+49 (0)151 23456789", "+4915123456789"),
    ("+33 6 12 34 56 78", "+33612345678"),
    ("00 44 7911 123456", None),
])
def test_numbers_are_normalised_to_e164(raw: str, e164: str | None) -> None:
    if e164 is None:
        with pytest.raises(InvalidPhone, match="country code"):
            parse_phone(raw)
    else:
        assert parse_phone(raw).e164 == e164


def test_default_region_reads_national_numbers() -> None:
    assert parse_phone("07911 123456", default_region="GB").e164 == "+447911123456"


@pytest.mark.parametrize("raw, words", [
    ("+1 900 555 1234", "premium-rate"),
    ("+1 800 555 1234", "toll-free"),
    ("+49 30 1234567", "landline"),
    ("+1 201", "too short"),
    ("+1 201 555 0123 4567 89", "too long"),
    ("+999 1234567", "country code"),
])
def test_numbers_that_cannot_get_a_code_are_refused_with_the_reason(raw: str,
                                                                    words: str) -> None:
    with pytest.raises(InvalidPhone, match=words):
        parse_phone(raw)


def test_mask_keeps_country_code_and_last_digits() -> None:
    assert Phone("+12015550123", "1").masked == "+1******0123"
    assert Phone("+4915123456789", "49").masked == "+49*******6789"
    assert Phone("+3547123456", "354").masked == "+354*****56"
    assert from_e164("+447911123456") == Phone("+447911123456", "44")


def test_pattern_is_searched_in_the_e164_form() -> None:
    phone = parse_phone("+44 7911 123456")
    check_pattern(phone, r"^\+44")
    check_pattern(phone, None)
    with pytest.raises(InvalidPhone, match="pattern"):
        check_pattern(phone, r"^\+1")


def test_country_allow_list() -> None:
    phone = parse_phone("+44 7911 123456")
    check_country(phone, ())
    check_country(phone, ("1", "44"))
    with pytest.raises(InvalidPhone, match=r"\+44"):
        check_country(phone, ("1",))


@pytest.mark.parametrize("header, locale", [
    (None, "en"), ("", "en"), ("de", "de"), ("fr-CA,fr;q=0.9,en;q=0.8", "fr"),
    ("xx, es;q=0.4, it;q=0.6", "it"), ("de;q=0, nl", "nl"), ("de;q=oops, pt", "pt"),
    ("*", "en"),
])
def test_locale_from_accept_language(header: str | None, locale: str) -> None:
    assert pick_locale(header) == locale


def test_message_starts_with_the_code_and_states_the_lifetime() -> None:
    text = render("en", code="042917", issuer="Acme", ttl_seconds=300)
    assert text == ("042917 is your Acme verification code. It expires in 5 minutes. "
                    "Do not share it.")
    assert render("zz", code="1", issuer="A", ttl_seconds=60).startswith("1 is your A")


@pytest.mark.parametrize("ip, bucket", [
    ("203.0.113.7", "203.0.113.7"),
    ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
    ("::ffff:203.0.113.7", "203.0.113.7"),
    ("not-an-ip", "not-an-ip"),
])
def test_ipv6_clients_are_limited_per_64(ip: str, bucket: str) -> None:
    assert ip_bucket(ip) == bucket
