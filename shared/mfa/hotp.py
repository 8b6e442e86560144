"""HOTP hardware tokens (RFC 4226): a counter-based code generator (a key fob with a button)
that a deployment imports from its old system. The registry declares the kind (`HOTP`); this
module is all HOTP-specific logic: the stored row, matching a code with a look-ahead, and the
resynchronisation from two consecutive codes. No HTTP here.

Here, in `shared`, because two services need it and no service imports another: the totp
service verifies the codes (Frontegg's client sees a token as an authenticator, so the
authenticator routes and their lockout counter serve it) and the operators service imports
tokens and resynchronises them.

The counter: a row's `last_step` is the last counter accepted (-1: none yet), so the token's
next code is counter `last_step + 1`. A code is accepted from that counter up to `look_ahead`
counters further (button presses whose codes were never sent; RFC 4226 section 7.4), and the
counter it matched becomes the row's `last_step` through the same conditional UPDATE the
authenticator apps' time steps use (`DeviceRepository.advance_step`: `WHERE last_step < new`,
with the success's audit row in the same statement), so one code logs in once, also when it
is sent twice in parallel, and a code older than an accepted one never does."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

import pyotp

from shared.events.audit import AuditEvent
from shared.http.errors import BadRequest
from shared.mfa.devices import Device, device_aad
from shared.mfa.registry import HOTP
from shared.mfa.resets import Actor, UnknownFactor
from shared.settings import env_int
from shared.stores.bundle import Stores

KIND = HOTP.name
DIGITS = (6, 8)  # RFC 4226 section 5.3: at least 6; 8 for tokens that show 8
LOOK_AHEAD = 10  # MFA_HOTP_LOOK_AHEAD's default: skipped presses still accepted
MAX_LOOK_AHEAD = 50  # each counter more is one more code a guess may hit
# How far a resynchronisation searches for the two codes: RFC 4226 section 7.4 leaves it to the
# server; two consecutive 6-digit codes matching by chance within it is about 1e-9.
RESYNC_WINDOW = 1000
MAX_COUNTER = 2**53  # an imported counter: JSON's exact integers (last_step is a BIGINT)


def look_ahead(env: Mapping[str, str]) -> int:
    """MFA_HOTP_LOOK_AHEAD: how many counters past the expected one a code may come from."""
    value = env_int(env, "MFA_HOTP_LOOK_AHEAD", LOOK_AHEAD)
    if not 0 <= value <= MAX_LOOK_AHEAD:
        raise ValueError(f"MFA_HOTP_LOOK_AHEAD must be between 0 and {MAX_LOOK_AHEAD}")
    return value


@dataclass(frozen=True)
class Token:
    """A token as the old system kept it: its base32 seed, the digits it shows and the counter
    of the next code it will show."""

    secret: str
    digits: int = 6
    counter: int = 0
    name: str = ""


def device(stores: Stores, token: Token, *, tenant_id: str, user_id: str,
           device_id: str) -> Device:
    """The token's row: the seed sealed like an authenticator app's (bound to tenant, user and
    device), the counter before the next one as the last accepted."""
    data = {"digits": token.digits} if token.digits != 6 else {}
    return Device(id=device_id, tenant_id=tenant_id, user_id=user_id, kind=KIND,
                  created_at=stores.clock.time(), name=token.name or HOTP.label, data=data,
                  last_step=token.counter - 1,
                  secret=stores.cipher.encrypt(token.secret.encode(),
                                               device_aad(tenant_id, user_id, device_id)))


def _generator(stores: Stores, d: Device) -> pyotp.HOTP:
    seed = stores.cipher.decrypt(d.secret or "", d.aad()).decode()
    return pyotp.HOTP(seed, digits=int(d.data.get("digits", 6)), digest=hashlib.sha1)


def _first_match(hotp: pyotp.HOTP, codes: tuple[str, ...], start: int, count: int
                 ) -> int | None:
    """The lowest counter in [start, start + count) whose code, and the next counters' codes,
    equal `codes`; every counter is computed and compared in constant time (no early exit; a
    code of another length matches nothing)."""
    wanted = [c.encode() for c in codes]
    generated = [hotp.generate_otp(c).encode()
                 for c in range(start, start + count + len(codes) - 1)]
    found = None
    for i in range(len(generated) - len(codes) + 1):
        same = all([hmac.compare_digest(w, generated[i + j]) for j, w in enumerate(wanted)])
        if same and found is None:
            found = start + i
    return found


def match(stores: Stores, d: Device, code: str, look_ahead: int) -> int | None:
    """The counter of `code` from the token's next one to `look_ahead` further, or None. The
    newest counter a code may come from is bounded by the row as read: a row carried by an
    older session start only narrows the window, and the UPDATE refuses a spent counter."""
    return _first_match(_generator(stores, d), (code,), d.last_step + 1, look_ahead + 1)


class ResyncFailed(BadRequest):
    """The two codes are not consecutive codes of the token within the resync window."""

    code = "ER-MFA-HOTP-RESYNC-FAILED"
    default_message = (f"The two codes are not consecutive codes of this token within its next "
                       f"{RESYNC_WINDOW} codes: press the button twice and send both codes")


async def resync(stores: Stores, actor: Actor, tenant_id: str, user_id: str, device_id: str,
                 first: str, second: str) -> int:
    """Move a token's counter past two consecutive codes (pressed one after the other) found
    within RESYNC_WINDOW counters ahead: for a token whose button was pressed more often than
    the look-ahead allows. Audited as `resync` with the actor, in the UPDATE's statement; a
    counter only moves forward. The counter of the token's next code."""
    d = await stores.devices.get(tenant_id, user_id, device_id)
    if d is None or d.kind != KIND:
        raise UnknownFactor()
    found = _first_match(_generator(stores, d), (first, second), d.last_step + 1, RESYNC_WINDOW)
    if found is None:
        raise ResyncFailed()
    last = found + 1
    event = AuditEvent(tenant_id, user_id, KIND, "resync", "success", device_id,
                       actor.detail(skipped=found - d.last_step - 1))
    if not await stores.devices.advance_step(device_id, last, stores.clock.time(),
                                             audit=stores.audit, event=event):
        raise ResyncFailed()  # the token logged in past these codes meanwhile
    return last + 1
