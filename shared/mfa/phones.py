"""Phone numbers: parsed and normalised to E.164 (ITU-T E.164) with `phonenumbers`, checked
against the tenant's pattern and allowed country calling codes, and masked for display."""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
from phonenumbers import (
    NumberParseException,
    PhoneNumberFormat,
    PhoneNumberType,
    ValidationResult,
)

from shared.http.errors import BadRequest
from shared.mfa.policies import tenant_pattern

# Number types an SMS code must not go to: landlines cannot receive it, and premium-rate,
# shared-cost and similar ranges are what SMS pumping (toll fraud) sends to.
_REFUSED_TYPES = {
    PhoneNumberType.FIXED_LINE: "a landline number",
    PhoneNumberType.PREMIUM_RATE: "a premium-rate number",
    PhoneNumberType.SHARED_COST: "a shared-cost number",
    PhoneNumberType.TOLL_FREE: "a toll-free number",
    PhoneNumberType.UAN: "a universal access number",
    PhoneNumberType.VOICEMAIL: "a voicemail access number",
    PhoneNumberType.PAGER: "a pager number",
}
_PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: "it needs a valid country code, e.g. +1 or +44",
    NumberParseException.NOT_A_NUMBER: "it is not a phone number",
    NumberParseException.TOO_SHORT_NSN: "it is too short",
    NumberParseException.TOO_SHORT_AFTER_IDD: "it is too short",
    NumberParseException.TOO_LONG: "it is too long",
}

_LENGTH_REASONS = {
    ValidationResult.TOO_SHORT: "it is too short",
    ValidationResult.TOO_LONG: "it is too long",
    ValidationResult.INVALID_COUNTRY_CODE: "it needs a valid country code, e.g. +1 or +44",
}


class InvalidPhone(BadRequest):
    """The phone number cannot receive a code (400, naming the problem)."""

    code = "ER-MFA-INVALID-PHONE"


@dataclass(frozen=True)
class Phone:
    """A normalised phone number."""

    e164: str
    country_code: str

    @property
    def masked(self) -> str:
        """The number as shown to anyone but its owner's enrollment step: +1******4567."""
        national = self.e164[1 + len(self.country_code):]
        keep = 4 if len(national) >= 8 else 2
        return f"+{self.country_code}{'*' * (len(national) - keep)}{national[-keep:]}"


def parse_phone(raw: str, *, default_region: str = "") -> Phone:
    """Parse a user-typed number into E.164; InvalidPhone says why it cannot be used."""
    try:
        num = phonenumbers.parse(raw, default_region or None)
    except NumberParseException as e:
        reason = _PARSE_REASONS.get(e.error_type, "it cannot be read")
        raise InvalidPhone(f"phoneNumber is not a valid phone number: {reason}") from None
    possible = phonenumbers.is_possible_number_with_reason(num)
    if possible != ValidationResult.IS_POSSIBLE:
        reason = _LENGTH_REASONS.get(possible, "it has the wrong number of digits")
        raise InvalidPhone(f"phoneNumber is not a valid phone number: {reason}")
    if not phonenumbers.is_valid_number(num):
        raise InvalidPhone("phoneNumber is not a valid phone number for its country")
    refused = _REFUSED_TYPES.get(phonenumbers.number_type(num))
    if refused:
        raise InvalidPhone(f"phoneNumber is {refused}; SMS codes need a mobile number",
                           code="ER-MFA-PHONE-TYPE")
    e164 = phonenumbers.format_number(num, PhoneNumberFormat.E164)
    return Phone(e164=e164, country_code=str(num.country_code))


def check_pattern(phone: Phone, pattern: str | None) -> None:
    """The tenant's phoneNumberRegexp, matched against the E.164 form (like JS RegExp.test)
    with RE2 (linear time); a stored pattern RE2 cannot compile matches nothing."""
    if not pattern:
        return
    try:
        matched = tenant_pattern(pattern).search(phone.e164) is not None
    except ValueError:
        matched = False  # saved before RE2 was enforced: fail closed, never backtrack
    if not matched:
        raise InvalidPhone("phoneNumber does not match the phone number pattern of this account",
                           code="ER-MFA-PHONE-PATTERN")


def check_country(phone: Phone, allowed: tuple[str, ...]) -> None:
    """Refuse a country calling code outside the allow-list (an empty list allows all)."""
    if allowed and phone.country_code not in allowed:
        raise InvalidPhone(f"SMS codes cannot be sent to +{phone.country_code} numbers for this "
                           "account", code="ER-MFA-PHONE-COUNTRY")


def from_e164(e164: str) -> Phone:
    """A stored E.164 number back as a Phone (it was validated when enrolled)."""
    return Phone(e164=e164, country_code=str(phonenumbers.parse(e164, None).country_code))
