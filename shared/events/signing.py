"""The signature scheme of every webhook this service sends (SMS webhook provider, security
events): HMAC-SHA256 (RFC 2104) of the raw body, a timestamp inside the signed body and in a
header (a receiver refuses stale deliveries), and an id inside and in a header (a receiver
deduplicates)."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

SIGNATURE_HEADER = "X-MFA-Signature"
TIMESTAMP_HEADER = "X-MFA-Timestamp"
MESSAGE_ID_HEADER = "X-MFA-Message-Id"


def sign(secret: str, raw_body: bytes) -> str:
    """The signature header value for a body: `sha256=<hex>`."""
    return "sha256=" + hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()


def verify(secret: str, raw_body: bytes, signature: str) -> bool:
    """Whether a signature header matches the body (constant time; for receivers)."""
    return hmac.compare_digest(sign(secret, raw_body), signature)


def signed_request(secret: str, body: dict[str, Any], *, message_id: str,
                   timestamp: int) -> tuple[bytes, dict[str, str]]:
    """The raw JSON body (with `id` and `timestamp`) and the headers that sign it."""
    raw = json.dumps({**body, "id": message_id, "timestamp": timestamp},
                     separators=(",", ":")).encode()
    return raw, {"Content-Type": "application/json", SIGNATURE_HEADER: sign(secret, raw),
                 TIMESTAMP_HEADER: str(timestamp), MESSAGE_ID_HEADER: message_id}
