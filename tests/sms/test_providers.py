"""The provider adapters against real local HTTP servers: exactly what Twilio or the webhook
receiver gets, and every way a send can fail."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from services.sms.config import load
from services.sms.providers import ProviderError, SmsMessage, build_provider
from services.sms.providers.console import ConsoleProvider
from services.sms.providers.twilio import TwilioProvider
from services.sms.providers.webhook import WebhookProvider
from shared.clock import FrozenClock
from shared.events.signing import key_id
from shared.settings import Settings
from tests.sms.conftest import ServerFactory
from tests.support.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FROM, SERVICE_SID, FakeTwilio
from tests.support.sms_gateway import Inbox

MESSAGE = SmsMessage(to="+12015550123", body="123456 is your MFA verification code.",
                     locale="en", purpose="verify", to_masked="+1******0123", code="123456")


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session, as the app's cleanup context makes one."""
    async with aiohttp.ClientSession() as session:
        yield session


def _twilio(fake: FakeTwilio, http: aiohttp.ClientSession, **kw: str) -> TwilioProvider:
    env = {"MFA_SMS_PROVIDER": "twilio", "MFA_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
           "MFA_TWILIO_AUTH_TOKEN": AUTH_TOKEN, "MFA_TWILIO_FROM": FROM,
           "MFA_TWILIO_BASE_URL": fake.base_url + "/", "MFA_SMS_PROVIDER_TIMEOUT": "0.5", **kw}
    return TwilioProvider(load(Settings.from_env(env)), http)


async def test_twilio_gets_form_with_to_from_body_and_basic_auth(
        twilio: FakeTwilio, http: aiohttp.ClientSession) -> None:
    sid = await _twilio(twilio, http).send(MESSAGE)
    assert sid and sid.startswith("SM")
    [req] = twilio.requests
    assert req["path"] == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert req["headers"]["Authorization"] == "Basic " + base64.b64encode(
        f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    assert req["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert req["form"] == {"To": MESSAGE.to, "From": FROM, "Body": MESSAGE.body}


async def test_twilio_messaging_service_sid_replaces_from(
        twilio: FakeTwilio, http: aiohttp.ClientSession) -> None:
    await _twilio(twilio, http, MFA_TWILIO_FROM=SERVICE_SID).send(MESSAGE)
    assert twilio.messages == [{"To": MESSAGE.to, "MessagingServiceSid": SERVICE_SID,
                                "Body": MESSAGE.body}]


async def test_twilio_error_is_provider_error_and_logs_no_number(
        twilio: FakeTwilio, http: aiohttp.ClientSession,
        caplog: pytest.LogCaptureFixture) -> None:
    bad = SmsMessage(to="12015550123", body="x", locale="en", purpose="verify", to_masked="")
    with caplog.at_level(logging.DEBUG), pytest.raises(ProviderError, match="400"):
        await _twilio(twilio, http).send(bad)
    assert "2015550123" not in caplog.text and "21211" in str(
        [getattr(r, "fields", "") for r in caplog.records])


async def test_twilio_wrong_credentials_are_provider_error(
        twilio: FakeTwilio, http: aiohttp.ClientSession) -> None:
    with pytest.raises(ProviderError, match="401"):
        await _twilio(twilio, http, MFA_TWILIO_AUTH_TOKEN="wrong").send(MESSAGE)
    assert twilio.messages == []


async def test_twilio_server_error_and_timeout_are_provider_errors(
        twilio: FakeTwilio, http: aiohttp.ClientSession) -> None:
    twilio.fail_status = 500
    with pytest.raises(ProviderError, match="500"):
        await _twilio(twilio, http).send(MESSAGE)
    twilio.fail_status, twilio.delay = None, 2.0
    with pytest.raises(ProviderError, match="timed out"):
        await _twilio(twilio, http).send(MESSAGE)


async def test_twilio_unreachable_is_provider_error(http: aiohttp.ClientSession) -> None:
    fake = FakeTwilio(base_url="http://127.0.0.1:9")
    with pytest.raises(ProviderError, match="unreachable"):
        await _twilio(fake, http).send(MESSAGE)


def _webhook(inbox: Inbox, http: aiohttp.ClientSession, clock: FrozenClock) -> WebhookProvider:
    env = {"MFA_SMS_PROVIDER": "webhook", "MFA_SMS_WEBHOOK_URL": inbox.url,
           "MFA_SMS_WEBHOOK_SECRET": inbox.secret, "MFA_SMS_PROVIDER_TIMEOUT": "0.5"}
    return WebhookProvider(load(Settings.from_env(env)), http, clock)


async def test_webhook_posts_signed_json_with_timestamp(
        inbox: Inbox, http: aiohttp.ClientSession) -> None:
    clock = FrozenClock(1_800_000_000)
    msg_id = await _webhook(inbox, http, clock).send(MESSAGE)
    [body], [headers] = inbox.messages, inbox.headers
    assert body == {"id": msg_id, "to": MESSAGE.to, "body": MESSAGE.body, "locale": "en",
                    "purpose": "verify", "timestamp": 1_800_000_000}
    assert headers["X-MFA-Timestamp"] == "1800000000" and headers["X-MFA-Message-Id"] == msg_id
    assert headers["Content-Type"] == "application/json"
    raw = json.dumps(body, separators=(",", ":")).encode()
    signed = f"1800000000.{msg_id}.".encode() + raw
    assert headers["X-MFA-Signature"] == "v1=" + hmac.new(
        inbox.secret.encode(), signed, hashlib.sha256).hexdigest()
    assert headers["X-MFA-Key-Id"] == key_id(inbox.secret) != key_id("another secret")


async def test_webhook_with_wrong_secret_is_refused_by_the_receiver(
        inbox: Inbox, http: aiohttp.ClientSession) -> None:
    env = {"MFA_SMS_PROVIDER": "webhook", "MFA_SMS_WEBHOOK_URL": inbox.url,
           "MFA_SMS_WEBHOOK_SECRET": "another-secret-of-some-length"}
    with pytest.raises(ProviderError, match="401"):
        await WebhookProvider(load(Settings.from_env(env)), http, FrozenClock()).send(MESSAGE)
    assert inbox.messages == []


async def test_webhook_failure_and_timeout_are_provider_errors(
        inbox: Inbox, http: aiohttp.ClientSession) -> None:
    inbox.fail_status = 503
    with pytest.raises(ProviderError, match="503"):
        await _webhook(inbox, http, FrozenClock()).send(MESSAGE)
    inbox.fail_status, inbox.delay = None, 2.0
    with pytest.raises(ProviderError, match="timed out"):
        await _webhook(inbox, http, FrozenClock()).send(MESSAGE)


async def test_webhook_redirect_is_not_followed(
        aiohttp_server: ServerFactory, http: aiohttp.ClientSession) -> None:
    app = web.Application()

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound("http://169.254.169.254/")

    app.router.add_post("/sms", redirect)
    server = await aiohttp_server(app)
    box = Inbox(url=str(server.make_url("/sms")))
    with pytest.raises(ProviderError, match="302"):
        await _webhook(box, http, FrozenClock()).send(MESSAGE)


async def test_console_logs_the_code_only_in_development(
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        await ConsoleProvider(log_codes=False).send(MESSAGE)
    assert "123456" not in caplog.text and MESSAGE.to not in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO):
        await ConsoleProvider(log_codes=True).send(MESSAGE)
    assert "DEVELOPMENT ONLY" in caplog.text and "123456" in caplog.text
    assert MESSAGE.to not in caplog.text


async def test_provider_is_chosen_by_configuration(http: aiohttp.ClientSession) -> None:
    embedded = load(Settings(), embedded=True)
    provider = build_provider(embedded, http, FrozenClock())
    assert isinstance(provider, ConsoleProvider) and embedded.console_log_codes
    assert not load(Settings()).console_log_codes
    webhook = load(Settings.from_env({"MFA_SMS_PROVIDER": "webhook",
                                      "MFA_SMS_WEBHOOK_URL": "http://x",
                                      "MFA_SMS_WEBHOOK_SECRET": "s" * 16}))
    assert isinstance(build_provider(webhook, http, FrozenClock()), WebhookProvider)


@pytest.mark.parametrize("env, words", [
    ({"MFA_SMS_PROVIDER": "carrier-pigeon"}, "MFA_SMS_PROVIDER"),
    ({"MFA_SMS_PROVIDER": "twilio", "MFA_TWILIO_ACCOUNT_SID": ACCOUNT_SID}, "AUTH_TOKEN"),
    ({"MFA_SMS_PROVIDER": "webhook", "MFA_SMS_WEBHOOK_URL": "http://x",
      "MFA_SMS_WEBHOOK_SECRET": "short"}, "16 characters"),
    ({"MFA_SMS_ALLOWED_COUNTRY_CODES": "+1,UK"}, "calling codes"),
    ({"MFA_SMS_CODE_DIGITS": "4"}, "CODE_DIGITS"),
])
def test_settings_that_cannot_work_are_refused(env: dict[str, str], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        load(Settings.from_env(env))
