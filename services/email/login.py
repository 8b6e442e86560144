"""The email-code factor's core: send a one-time code to the MFA session's email address and
verify it. No HTTP here.

The address is the user's email from the MFA session (there is no email enrollment). Codes
follow NIST SP 800-63B 5.1.3 (out-of-band): random, 6+ digits, short-lived, single use, a
limited number of tries, stored only as an HMAC; the challenge is bound to the mfaToken's
session.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage

from services.email.config import EmailConfig
from services.email.message import Templates, build_message
from services.email.providers import EmailSender, SendFailed
from shared.crypto import numeric_code, token_hash
from shared.http.errors import BadGateway, TooManyRequests, Unavailable
from shared.http.metrics import code_sent
from shared.mfa.challenges import InvalidChallenge
from shared.mfa.flow import Attempt, LoginResult, ensure_allowed
from shared.mfa.ratelimit import Cap
from shared.mfa.registry import EMAIL
from shared.mfa.sessions import MfaSession
from shared.stores.bundle import Stores

log = logging.getLogger("mfa.email")

KIND = EMAIL.name
PURPOSE = "email-login"


@dataclass(frozen=True)
class EmailFactor:
    """What the factor needs besides the stores: settings, templates and a sender (None when
    no mail system is configured)."""

    cfg: EmailConfig
    templates: Templates
    sender: EmailSender | None
    from_addr: Address
    issuer: str


def _binding(session: MfaSession) -> str:
    """Ties a challenge to one MFA session (the session key is already a token hash)."""
    return token_hash(session.key)


async def _limit(stores: Stores, cfg: EmailConfig, session: MfaSession, cooldown_key: str
                 ) -> None:
    """Resend cooldown, then the per-user and per-tenant caps; 429 before anything is sent."""
    t, u = session.tenant_id, session.user_id
    try:
        await stores.limiter.cooldown(cooldown_key, cfg.cooldown)
        await stores.limiter.caps([Cap(f"email-user:{t}:{u}", cfg.user_hourly, cfg.user_window),
                                   Cap(f"email-tenant:{t}", cfg.tenant_hourly, cfg.tenant_window)])
    except TooManyRequests:
        code_sent(KIND, "limiter", "refused")
        raise


async def _deliver(stores: Stores, sender: EmailSender, message: EmailMessage, *,
                   cooldown_key: str, tenant_id: str) -> None:
    """Hand the message over; on failure lift the cooldown (the user may ask again at once)
    and answer 502. Logs carry neither the address nor the code."""
    started = time.perf_counter()
    try:
        await sender.send(message)
    except SendFailed as e:
        await stores.limiter.release(cooldown_key)
        code_sent(KIND, sender.name, "failed")
        log.warning("email code not sent", extra={"fields": {
            "tenantId": tenant_id, "reason": e.reason,
            "ms": round((time.perf_counter() - started) * 1000, 1)}})
        raise BadGateway("The email could not be sent, please try again",
                         code="ER-MFA-EMAIL-SEND-FAILED") from None
    code_sent(KIND, sender.name, "sent")
    log.info("email code sent", extra={"fields": {
        "tenantId": tenant_id, "sender": sender.name, "locale": str(message["Content-Language"]),
        "ms": round((time.perf_counter() - started) * 1000, 1)}})


@dataclass(frozen=True)
class CodeSent:
    """{otcToken}: what the emailed code is verified with."""

    otcToken: str  # noqa: N815 - the wire's name


async def send_code(stores: Stores, ef: EmailFactor, *, session: MfaSession,
                    accept_language: str | None) -> CodeSent:
    """Email a fresh code to the session's user. 429 when limited (nothing is sent), 502 when
    the mail system fails."""
    await ensure_allowed(stores, EMAIL, session.tenant_id)
    if ef.sender is None:
        raise Unavailable("Email delivery is not configured", code="ER-MFA-EMAIL-NOT-CONFIGURED")
    cooldown_key = f"email:{session.tenant_id}:{session.user_id}"
    await _limit(stores, ef.cfg, session, cooldown_key)
    code = numeric_code(ef.cfg.digits)
    ttl = await stores.configs.mfa_setting(session.tenant_id, "email", "tokenLifetimeSeconds",
                                           ef.cfg.code_ttl)
    otc = await stores.challenges.create(purpose=PURPOSE, tenant_id=session.tenant_id,
                                         user_id=session.user_id, ttl=ttl,
                                         code=code, data={"session": _binding(session)})
    rendered = ef.templates.render(ef.templates.negotiate(accept_language), code=code,
                                   minutes=math.ceil(ttl / 60), issuer=ef.issuer)
    sender = await stores.configs.mfa_setting(session.tenant_id, "email", "sender", None)
    allowed = bool(sender) and stores.settings.sender_allowed(sender)  # saved before a change
    message = build_message(rendered, sender=Address(addr_spec=sender) if allowed
                            else ef.from_addr, to=session.email, clock=stores.clock)
    await _deliver(stores, ef.sender, message, cooldown_key=cooldown_key,
                   tenant_id=session.tenant_id)
    await stores.audit.record(tenant_id=session.tenant_id, user_id=session.user_id,
                              factor=KIND, action="send", outcome="success",
                              detail={"sender": ef.sender.name})
    return CodeSent(otc)


async def verify_code(stores: Stores, *, attempt: Attempt, otc_token: str, code: str,
                      remember_device: bool) -> LoginResult:
    """Check the emailed code (the attempt reserved, then the code's own tries counted before
    it is compared, single use) and complete the login."""
    session = attempt.session
    assert session is not None
    await ensure_allowed(stores, EMAIL, session.tenant_id)
    pending = await stores.challenges.peek(otc_token)
    # A challenge made for another session is refused and left untouched.
    if pending is None or pending.data.get("session") != _binding(session):
        raise InvalidChallenge()
    await stores.challenges.verify(otc_token, code, purpose=PURPOSE, tenant_id=session.tenant_id,
                                   user_id=session.user_id)
    return await attempt.login(device_id=None, remember_device=remember_device)
