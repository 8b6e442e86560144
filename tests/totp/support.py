"""Helpers for the totp tests: codes from the frozen clock, enrolled users, login sessions."""

from __future__ import annotations

from typing import Any

import pyotp

from tests.conftest import Ids, Stack

AUTH = "/resources/auth/v1/user/mfa"
USERS = "/resources/users/v1/mfa"
STEP = 30


def code(stack: Stack, seed: str, steps: int = 0) -> str:
    """The code of `seed` at the stack's (frozen) time, `steps` time steps away."""
    return pyotp.TOTP(seed).at(stack.clock.now(), counter_offset=steps)


def wrong(right: str) -> str:
    """A six-digit code that differs from `right`."""
    return f"{(int(right) + 1) % 1_000_000:06d}"


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
