"""The generic webhook provider: a JSON POST to MFA_SMS_WEBHOOK_URL, signed with HMAC-SHA256
(RFC 2104) keyed by MFA_SMS_WEBHOOK_SECRET over the timestamp, the message id and the raw body
(shared.events.signing, the scheme of every webhook this service sends: `X-MFA-Signature:
v1=<hex>`, `X-MFA-Timestamp`, `X-MFA-Message-Id`, `X-MFA-Key-Id`), so a receiver can refuse
stale, replayed or repeated deliveries."""

from __future__ import annotations

import secrets

import aiohttp

from services.sms.config import SmsConfig
from services.sms.providers import ProviderError, SmsMessage
from shared.clock import Clock
from shared.events.signing import signed_request


class WebhookProvider:
    """Hands each message to the deployment's own SMS gateway."""

    name = "webhook"

    def __init__(self, config: SmsConfig, http: aiohttp.ClientSession, clock: Clock) -> None:
        self._http = http
        self._url = config.webhook_url
        self._secret = config.webhook_secret
        self._clock = clock
        self._timeout = aiohttp.ClientTimeout(total=config.provider_timeout)

    async def send(self, message: SmsMessage) -> str | None:
        """POST the signed message; any 2xx is success."""
        msg_id = secrets.token_hex(16)
        raw, headers = signed_request(
            self._secret, {"to": message.to, "body": message.body, "locale": message.locale,
                           "purpose": message.purpose},
            message_id=msg_id, timestamp=int(self._clock.time()))
        try:
            async with self._http.post(self._url, data=raw, headers=headers,
                                       timeout=self._timeout, allow_redirects=False) as r:
                if not 200 <= r.status < 300:
                    raise ProviderError(f"webhook answered {r.status}")
        except TimeoutError:
            raise ProviderError("webhook timed out") from None
        except aiohttp.ClientError as e:
            raise ProviderError(f"webhook unreachable: {e.__class__.__name__}") from None
        return msg_id
