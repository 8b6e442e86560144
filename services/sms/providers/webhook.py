"""The generic webhook provider: a JSON POST to MFA_SMS_WEBHOOK_URL, signed with HMAC-SHA256
(RFC 2104) of the raw body keyed by MFA_SMS_WEBHOOK_SECRET.

Headers: `X-MFA-Signature: sha256=<hex>`, `X-MFA-Timestamp: <unix seconds>` (also inside the
signed body as `timestamp`, so a receiver can refuse stale or replayed deliveries) and
`X-MFA-Message-Id` (also `id` in the body, for idempotency)."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets

import aiohttp

from services.sms.config import SmsConfig
from services.sms.providers import ProviderError, SmsMessage
from shared.clock import Clock

SIGNATURE_HEADER = "X-MFA-Signature"
TIMESTAMP_HEADER = "X-MFA-Timestamp"
MESSAGE_ID_HEADER = "X-MFA-Message-Id"


def sign(secret: str, raw_body: bytes) -> str:
    """The signature header value for a body."""
    return "sha256=" + hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()


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
        ts = int(self._clock.time())
        raw = json.dumps({"id": msg_id, "to": message.to, "body": message.body,
                          "locale": message.locale, "purpose": message.purpose,
                          "timestamp": ts}, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(self._secret, raw),
                   TIMESTAMP_HEADER: str(ts), MESSAGE_ID_HEADER: msg_id}
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
