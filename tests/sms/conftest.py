"""Fixtures of the SMS tests: a real local SMS gateway (tests/support/sms_gateway.py) and a
fake Twilio, each on a real port; and helpers that walk the flows over HTTP."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.conftest import Ids, Stack
from tests.support.fake_twilio import FakeTwilio
from tests.support.sms_gateway import Inbox

ServerFactory = Callable[..., Awaitable[TestServer]]
AUTH = "/resources/auth/v1/user/mfa/sms"
USERS = "/resources/users/v1/mfa/sms"
DEVICES = "/resources/users/v1/mfa/devices"


def new_phone() -> str:
    """A random, valid US number in E.164 (tests never share a phone)."""
    return f"+1201{secrets.randbelow(700) + 230}{secrets.randbelow(10000):04d}"


@pytest.fixture
async def inbox(aiohttp_server: ServerFactory) -> Inbox:
    """The recording SMS gateway, on a real local port."""
    box = Inbox()
    app = web.Application()
    app.router.add_post("/sms", box.handle)
    server = await aiohttp_server(app)
    box.url = str(server.make_url("/sms"))
    return box


@pytest.fixture
async def twilio(aiohttp_server: ServerFactory) -> FakeTwilio:
    """The fake Twilio on a real port."""
    fake = FakeTwilio()
    server = await aiohttp_server(fake.app())
    fake.base_url = str(server.make_url("")).rstrip("/")
    return fake


@pytest.fixture
def sms_env() -> dict[str, str]:
    """Per-module (or, parametrized, per-test) MFA_SMS_* overrides."""
    return {}


@pytest.fixture
def extra_env(inbox: Inbox, sms_env: dict[str, str]) -> dict[str, str]:
    """The stack sends SMS through the webhook provider to the inbox. Every test comes from
    127.0.0.1, so the per-IP cap is lifted except where a test sets it."""
    return {"MFA_SMS_PROVIDER": "webhook", "MFA_SMS_WEBHOOK_URL": inbox.url,
            "MFA_SMS_WEBHOOK_SECRET": inbox.secret, "MFA_SMS_IP_HOURLY_LIMIT": "1000000",
            **sms_env}


async def allow_sms(stack: Stack, ids: Ids, **policy: Any) -> None:
    """The tenant allows SMS (and TOTP, so new users are not only offered SMS)."""
    await stack.set_policy(ids, strategies=["AuthenticatorApp", "SMS"], **policy)


async def begin_enroll(stack: Stack, ids: Ids,
                       phone: str | None = None) -> tuple[str, str, str]:
    """The profile page's first enrollment step: (the user's bearer, the phone, otcToken)."""
    token, phone = stack.user_token(ids), phone or new_phone()
    pre = await stack.post(f"{USERS}/enroll", {"phoneNumber": phone}, token=token)
    return token, phone, pre["otcToken"]


async def enroll_phone(stack: Stack, ids: Ids, inbox: Inbox,
                       phone: str | None = None) -> tuple[str, str]:
    """The profile page's enrollment; (device id, phone)."""
    token = stack.user_token(ids)
    before = {p["id"] for p in (await stack.get(DEVICES, token=token))["phones"]}
    _, phone, otc = await begin_enroll(stack, ids, phone)
    await stack.post(f"{USERS}/enroll/verify", {"otcToken": otc, "code": inbox.code_for(phone)},
                     token=token)
    after = {p["id"] for p in (await stack.get(DEVICES, token=token))["phones"]}
    [device_id] = after - before
    return device_id, phone
