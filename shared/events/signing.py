"""The signature scheme of every webhook this service sends (SMS webhook provider, security
events), so a receiver can refuse forged, stale and replayed deliveries:

- `X-MFA-Timestamp`: Unix seconds of this delivery; `X-MFA-Message-Id`: the message's id (the
  same on every retry of it). Both are also in the body (`timestamp`, `id`).
- `X-MFA-Signature: v1=<hex>`: HMAC-SHA256 (RFC 2104), keyed by the secret, of
  `<timestamp>.<message id>.<raw body>` with the two header values, so changing either header
  breaks it (a captured delivery cannot be replayed later under fresh headers).
- `X-MFA-Key-Id`: a fingerprint of the secret that signed (not the secret), so a receiver
  that knows the old and the new secret during a rotation knows which one to check.

A receiver checks the signature with the header values, refuses a timestamp older than it
accepts (minutes), and deduplicates on the id (delivery is at least once)."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

SIGNATURE_HEADER = "X-MFA-Signature"
TIMESTAMP_HEADER = "X-MFA-Timestamp"
MESSAGE_ID_HEADER = "X-MFA-Message-Id"
KEY_ID_HEADER = "X-MFA-Key-Id"
SCHEME = "v1"


def key_id(secret: str) -> str:
    """The secret's public fingerprint (16 hex characters of a SHA-256 under a label)."""
    return hashlib.sha256(b"mfa-webhook-key-id\x00" + secret.encode()).hexdigest()[:16]


def sign(secret: str, raw_body: bytes, *, timestamp: str, message_id: str) -> str:
    """The signature header value: `v1=<hex>` over timestamp, id and body."""
    signed = f"{timestamp}.{message_id}.".encode() + raw_body
    return f"{SCHEME}=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def verify(secret: str, raw_body: bytes, headers: Mapping[str, str]) -> bool:
    """Whether a delivery's signature matches its body and its timestamp and id headers
    (constant time; for receivers)."""
    want = sign(secret, raw_body, timestamp=headers.get(TIMESTAMP_HEADER, ""),
                message_id=headers.get(MESSAGE_ID_HEADER, ""))
    return hmac.compare_digest(want.encode(), headers.get(SIGNATURE_HEADER, "").encode())


def signed_request(secret: str, body: dict[str, Any], *, message_id: str,
                   timestamp: int) -> tuple[bytes, dict[str, str]]:
    """The raw JSON body (with `id` and `timestamp`) and the headers that sign it."""
    raw = json.dumps({**body, "id": message_id, "timestamp": timestamp},
                     separators=(",", ":")).encode()
    return raw, {"Content-Type": "application/json", TIMESTAMP_HEADER: str(timestamp),
                 MESSAGE_ID_HEADER: message_id, KEY_ID_HEADER: key_id(secret),
                 SIGNATURE_HEADER: sign(secret, raw, timestamp=str(timestamp),
                                        message_id=message_id)}
