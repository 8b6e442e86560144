"""TOTP through the gateway: codes from the frozen clock, enrolled users (also a device put
in place directly), login sessions, a factor locked by failures."""

from __future__ import annotations

from typing import Any

import pyotp

from shared.mfa.devices import Device, new_device_id
from tests.conftest import Ids, Stack
from tests.support.codes import wrong_code

AUTH = "/resources/auth/v1/user/mfa"
USERS = "/resources/users/v1/mfa"
STEP = 30
LOCK_ENV = {"MFA_LOCKOUT_DELAY_AFTER": "100", "MFA_LOCKOUT_MAX_FAILURES": "3"}


def code(stack: Stack, seed: str, steps: int = 0) -> str:
    """The code of `seed` at the stack's (frozen) time, `steps` time steps away."""
    return pyotp.TOTP(seed).at(stack.clock.now(), counter_offset=steps)


async def enroll(stack: Stack, ids: Ids) -> tuple[str, str]:
    """Enroll an authenticator through the users routes; (seed, device id). The clock is then
    moved one step on, so the enrollment code is not the next login's code."""
    token = stack.user_token(ids)
    pre = await stack.post(f"{USERS}/authenticator/enroll", token=token)
    await stack.post(f"{USERS}/authenticator/enroll/verify",
                     {"token": code(stack, pre["secret"])}, token=token)
    devices = await stack.stores.devices.list_for_user(ids.tenant, ids.user, "totp")
    stack.clock.advance(STEP)
    return pre["secret"], devices[-1].id


async def login(stack: Stack, ids: Ids, **extra: Any) -> str:
    """A fresh mfaToken for an enrolled user."""
    body = await stack.start_session(ids, **extra)
    assert body["mfaRequired"] is True, body
    return str(body["mfaToken"])


async def failures(stack: Stack, ids: Ids) -> list[dict[str, Any]]:
    """The user's audited TOTP failures."""
    rows = await stack.stores.audit.for_user(ids.tenant, ids.user)
    return [r for r in rows if r["factor"] == "totp" and r["action"] in ("failure", "lockout")]


async def enrolled_user(stack: Stack, ids: Ids, *, remembered: bool = False) -> str:
    """A user with one authenticator (and a remembered device when asked); its seed."""
    seed, _ = await enroll(stack, ids)
    if remembered:
        await stack.stores.remembered.issue(ids.tenant, ids.user, 3600)
    return seed


async def enroll_totp_device(stack: Stack, ids: Ids) -> Device:
    """Put a TOTP device in place directly (the TOTP service has its own tests)."""
    d = Device(id=new_device_id(), tenant_id=ids.tenant, user_id=ids.user, kind="totp",
               created_at=stack.clock.time())
    await stack.stores.devices.add(d)
    return d


async def lock_totp(stack: Stack, ids: Ids, seed: str, times: int = 3) -> None:
    """Fail the user's TOTP `times` times (3 locks it under LOCK_ENV)."""
    for _ in range(times):
        await stack.post(f"{AUTH}/verify", {"mfaToken": await login(stack, ids),
                                            "value": wrong_code(code(stack, seed))},
                         expected_status=400)


async def import_token(stack: Stack, ids: Ids, *, counter: int = 0, digits: int = 6
                       ) -> tuple[pyotp.HOTP, str]:
    """An HOTP hardware token imported through the admin API; (its generator, device id). Its
    next code is `hotp.at(counter)`."""
    seed = pyotp.random_base32()
    h = {"Authorization": f"Bearer {stack.settings.internal_api_key}"}
    done = await stack.post(f"/internal/v1/admin/tenants/{ids.tenant}/users/{ids.user}/import",
                            {"hotp": [{"secret": seed, "counter": counter, "digits": digits}]},
                            headers=h, prefix="")
    assert done == {"added": 1, "existing": 0}
    [token] = await stack.stores.devices.list_for_user(ids.tenant, ids.user, "hotp")
    return pyotp.HOTP(seed, digits=digits), token.id
