"""The WebAuthn factor for a logged-in user (Bearer, the profile page): add a key and remove
one, each with a ceremony. No HTTP here; the finish of each runs in the attempt the route
reserved (shared.mfa.flow), counted against the user's WebAuthn lockout."""

from __future__ import annotations

from typing import Any

from services.webauthn import credentials
from services.webauthn.config import WebAuthnConfig
from services.webauthn.credentials import Ceremony, Who
from shared.mfa.flow import Attempt, Enrolled, after_enrollment, after_removal, may_create
from shared.mfa.registry import WEBAUTHN
from shared.mfa.tokens import Principal
from shared.stores.bundle import Stores


def _who(p: Principal) -> Who:
    return Who(tenant_id=p.tenant_id, user_id=p.user_id, email=p.email)


async def pre_enroll(stores: Stores, cfg: WebAuthnConfig, *, principal: Principal) -> Ceremony:
    """Add a key, step 1: registration options."""
    await may_create(stores, principal, WEBAUTHN)
    return await credentials.begin_enroll(stores, cfg, _who(principal))


async def enroll(stores: Stores, cfg: WebAuthnConfig, *, attempt: Attempt, principal: Principal,
                 webauthn_token: str, device_type: str | None,
                 credential: dict[str, Any]) -> Enrolled:
    """Add a key, step 2: the recovery code on a first factor."""
    p = principal
    device = await credentials.finish_enroll(stores, cfg, _who(p), token=webauthn_token,
                                             device_type=device_type, credential=credential)
    code = await after_enrollment(stores, tenant_id=p.tenant_id, user_id=p.user_id,
                                  email=p.email, factor=attempt.factor, device_id=device.id)
    await attempt.succeed()
    return Enrolled(code)


async def pre_disable(stores: Stores, cfg: WebAuthnConfig, *, principal: Principal,
                      device_id: str) -> Ceremony:
    """Remove a key, step 1: the key must sign to be removed."""
    device = await credentials.device_of(stores, _who(principal), device_id)
    return await credentials.begin_assertion(stores, cfg, _who(principal), device,
                                             purpose=credentials.DISABLE)


async def disable(stores: Stores, cfg: WebAuthnConfig, *, attempt: Attempt,
                  principal: Principal, device_id: str, webauthn_token: str,
                  credential: dict[str, Any]) -> None:
    """Remove a key, step 2."""
    p = principal
    attempt.device_id = device_id
    await credentials.finish_assertion(stores, cfg, _who(p), device_id, token=webauthn_token,
                                       purpose=credentials.DISABLE, credential=credential)
    await attempt.succeed()
    if await stores.devices.delete(p.tenant_id, p.user_id, device_id):
        await after_removal(stores, tenant_id=p.tenant_id, user_id=p.user_id,
                            factor=attempt.factor, device_id=device_id)
