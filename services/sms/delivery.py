"""Sending a code: the pumping and cost controls, the challenge, the provider. No HTTP here."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.trace import SpanKind

from services.sms.config import SmsConfig
from services.sms.credentials import phone_of, refuse_known_phone, sms_policy
from services.sms.providers import ProviderError, SmsMessage, SmsProvider
from services.sms.templates import render
from shared.crypto import numeric_code
from shared.http import tracing
from shared.http.client_ip import ip_bucket
from shared.http.errors import BadGateway, TooManyRequests
from shared.http.metrics import code_sent, sms_sent
from shared.mfa.devices import Device, device_aad, new_device_id
from shared.mfa.flow import KindNotAllowed
from shared.mfa.phones import Phone, check_country, check_pattern, parse_phone
from shared.mfa.ratelimit import Cap
from shared.mfa.registry import SMS
from shared.stores.bundle import Stores

log = logging.getLogger("mfa.sms")
HOUR = 3600


@dataclass(frozen=True)
class Requester:
    """Where a send request comes from and the language its SMS should be in."""

    ip: str
    locale: str = "en"


@dataclass(frozen=True)
class Sender:
    """The service's SMS settings and its configured provider."""

    config: SmsConfig
    provider: SmsProvider


@dataclass(frozen=True)
class CodeSent:
    """{otcToken, phoneNumber}: the token the code is verified with, and the number it went
    to (in full only to the person who just typed it, at enrollment; else masked)."""

    otcToken: str  # noqa: N815 - the wire's name
    phoneNumber: str  # noqa: N815


@dataclass(frozen=True)
class Send:
    """One code to send: to whom, why, and the challenge that will hold it."""

    tenant_id: str
    user_id: str
    phone: Phone
    purpose: str  # enroll | verify | disable (what the SMS is for)
    challenge_purpose: str  # the purpose the otcToken is bound to
    cooldown_key: str
    device_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


def phone_tag(stores: Stores, phone: Phone) -> str:
    """A keyed digest of the number, so rate-limit keys never hold the number itself."""
    return stores.hasher.digest("sms-phone", phone.e164)[:32]


def _caps(stores: Stores, c: SmsConfig, who: Requester, s: Send) -> list[Cap]:
    """Per requesting user, per number, per client address, per tenant. A number being
    enrolled (not yet proven: anyone may type anyone's number) counts in a bucket of its own,
    so strangers enrolling it cannot spend the budget its owner's enrolled device logs in
    with; each of them is held to their own user budget as well."""
    number = "phone-new" if s.purpose == "enroll" else "phone"
    caps = [Cap(f"sms:user:{s.tenant_id}:{s.user_id}", c.user_hourly, HOUR),
            Cap(f"sms:{number}:{phone_tag(stores, s.phone)}", c.phone_hourly, HOUR)]
    if who.ip:
        caps.append(Cap(f"sms:ip:{ip_bucket(who.ip)}", c.ip_hourly, HOUR))
    caps.append(Cap(f"sms:tenant:{s.tenant_id}", c.tenant_hourly, HOUR))
    return caps


async def _admit(stores: Stores, c: SmsConfig, who: Requester, s: Send) -> None:
    """The SMS strategy (every send, enrollment or login code: one policy read), the country
    allow-list, then cooldown, then the hourly caps; a refusal sends nothing."""
    policy = await stores.policies.get(s.tenant_id)
    if not policy.allows_kind(SMS):
        raise KindNotAllowed(SMS)
    check_country(s.phone, policy.smsAllowedCountryCodes or c.allowed_country_codes)
    await stores.limiter.cooldown(s.cooldown_key, c.resend_cooldown)
    try:
        await stores.limiter.caps(_caps(stores, c, who, s))
    except TooManyRequests:
        await stores.limiter.release(s.cooldown_key)
        code_sent("sms", "limiter", "refused")
        log.warning("sms send refused by a cap", extra={"fields": {"tenantId": s.tenant_id}})
        raise


async def send_code(stores: Stores, sender: Sender, who: Requester, s: Send) -> str:
    """Admit the send, store the challenge (code as HMAC), deliver the text; the otcToken."""
    c = sender.config
    await _admit(stores, c, who, s)
    code = numeric_code(c.code_digits)
    ttl = await stores.configs.mfa_setting(s.tenant_id, "sms", "tokenLifetimeSeconds",
                                           c.code_ttl)
    token = await stores.challenges.create(
        purpose=s.challenge_purpose, tenant_id=s.tenant_id, user_id=s.user_id, ttl=ttl,
        code=code, device_id=s.device_id, data=s.data)
    text = render(who.locale, code=code, issuer=stores.settings.issuer_name, ttl_seconds=ttl)
    message = SmsMessage(to=s.phone.e164, body=text, locale=who.locale, purpose=s.purpose,
                         to_masked=s.phone.masked, code=code)
    try:
        with tracing.span("sms.send", SpanKind.CLIENT, **{
                "mfa.sms.provider": sender.provider.name,
                "mfa.sms.country_code": s.phone.country_code}):
            await sender.provider.send(message)
    except ProviderError as e:
        # The unreturned otcToken is unusable and expires; only the cooldown is lifted.
        await stores.limiter.release(s.cooldown_key)
        log.warning("sms provider failed", extra={"fields": {
            "provider": sender.provider.name, "reason": str(e), "purpose": s.purpose}})
        await _audit(stores, s, sender.provider.name, "error")
        code_sent("sms", sender.provider.name, "failed")
        sms_sent(s.tenant_id, s.phone.country_code, "failed")
        raise BadGateway("The SMS code could not be sent, please try again",
                         code="ER-MFA-SMS-PROVIDER") from None
    await _audit(stores, s, sender.provider.name, "success")
    code_sent("sms", sender.provider.name, "sent")
    sms_sent(s.tenant_id, s.phone.country_code, "sent")
    return token


async def _audit(stores: Stores, s: Send, provider: str, outcome: str) -> None:
    await stores.audit.record(
        tenant_id=s.tenant_id, user_id=s.user_id, factor="sms", action="send", outcome=outcome,
        device_id=s.device_id, detail={"purpose": s.purpose, "provider": provider,
                                       "countryCode": s.phone.country_code})


async def send_enroll_code(stores: Stores, sender: Sender, who: Requester, *, tenant_id: str,
                           user_id: str, raw_phone: str, purpose: str) -> CodeSent:
    """Validate a new number for the tenant and send it a code."""
    policy = await sms_policy(stores, tenant_id)
    phone = parse_phone(raw_phone, default_region=sender.config.default_region)
    check_pattern(phone, policy.phoneNumberRegexp)
    await refuse_known_phone(stores, tenant_id, user_id, phone)
    device_id = new_device_id()
    data = {"deviceId": device_id, "phone": stores.cipher.encrypt(
        phone.e164.encode(), device_aad(tenant_id, user_id, device_id))}
    token = await send_code(stores, sender, who, Send(
        tenant_id=tenant_id, user_id=user_id, phone=phone, purpose="enroll",
        challenge_purpose=purpose, cooldown_key=f"sms:enroll:{phone_tag(stores, phone)}",
        device_id=device_id, data=data))
    return CodeSent(token, phone.e164)


async def send_to_device(stores: Stores, sender: Sender, who: Requester, device: Device, *,
                         purpose: str, challenge_purpose: str) -> CodeSent:
    """Send a code to an enrolled phone (cooldown per device); the number goes back masked."""
    phone = phone_of(stores, device)
    token = await send_code(stores, sender, who, Send(
        tenant_id=device.tenant_id, user_id=device.user_id, phone=phone, purpose=purpose,
        challenge_purpose=challenge_purpose, cooldown_key=f"sms:device:{device.id}",
        device_id=device.id))
    return CodeSent(token, phone.masked)
