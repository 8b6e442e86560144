"""Twilio's Programmable Messaging REST API: POST /2010-04-01/Accounts/{AccountSid}/Messages.json,
form-encoded To, From (or MessagingServiceSid) and Body, HTTP Basic auth AccountSid:AuthToken
(https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource)."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

import aiohttp

from services.sms.config import SmsConfig
from services.sms.providers import ProviderError, SmsMessage

log = logging.getLogger("mfa.sms.twilio")


def _sender_field(sender: str) -> str:
    """Messaging Service SIDs start with MG (34 chars); anything else is a From number."""
    return "MessagingServiceSid" if sender.startswith("MG") and len(sender) == 34 else "From"


class TwilioProvider:
    """Sends through Twilio over the app's shared client session."""

    name = "twilio"

    def __init__(self, config: SmsConfig, http: aiohttp.ClientSession) -> None:
        self._http = http
        self._url = (f"{config.twilio_base_url}/2010-04-01/Accounts/"
                     f"{quote(config.twilio_account_sid, safe='')}/Messages.json")
        self._headers = {"Authorization": aiohttp.encode_basic_auth(
            config.twilio_account_sid, config.twilio_auth_token)}
        self._sender = {_sender_field(config.twilio_from): config.twilio_from}
        self._timeout = aiohttp.ClientTimeout(total=config.provider_timeout)

    async def send(self, message: SmsMessage) -> str | None:
        """Create the Message resource; 2xx with a sid is success."""
        form = {"To": message.to, **self._sender, "Body": message.body}
        try:
            async with self._http.post(self._url, data=form, headers=self._headers,
                                       timeout=self._timeout, allow_redirects=False) as r:
                body = await _json(r)
                if r.status >= 300:
                    # Twilio's error body: {code, message, more_info, status}; the message may
                    # quote the phone number, so only the numeric code is logged.
                    log.warning("twilio refused the message", extra={"fields": {
                        "status": r.status, "twilioCode": body.get("code")}})
                    raise ProviderError(f"twilio answered {r.status}")
        except TimeoutError:
            raise ProviderError("twilio timed out") from None
        except aiohttp.ClientError as e:
            raise ProviderError(f"twilio unreachable: {e.__class__.__name__}") from None
        sid = body.get("sid")
        return sid if isinstance(sid, str) else None


async def _json(r: aiohttp.ClientResponse) -> dict[str, Any]:
    try:
        data = await r.json(content_type=None)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
