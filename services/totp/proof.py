"""Proving possession of an authenticator with one code: the same work and the same answer
for a wrong code, an unknown device and another user's device; each time step used once."""

from __future__ import annotations

from dataclasses import dataclass

import pyotp

from services.totp.config import TotpConfig
from services.totp.credentials import KIND, seed_of
from services.totp.otp import DUMMY_SEED, PERIOD, far_offset, match_step, normalise_code, totp_for
from shared.events.audit import AuditEvent, TokenUse
from shared.mfa import hotp
from shared.mfa.challenges import InvalidChallenge
from shared.mfa.devices import Device
from shared.stores.bundle import Stores

_DUMMY_AAD = "totp-dummy"


@dataclass(frozen=True)
class Proof:
    """A code that matched a device at a time step (not yet spent); `offset`: that step's
    distance from now, the clock drift it shows."""

    device: Device
    step: int
    offset: int = 0


class ClockDrift(InvalidChallenge):
    """A wrong code that would match 2-10 steps away (for an enrolled device only steps in
    the past: see otp.far_offset): still a failure (counted like any), but the answer says the
    phone's clock looks off, and the audit row records the offset."""

    code = "ER-MFA-CLOCK-DRIFT"
    reason = "clock-drift"

    def __init__(self, offset: int) -> None:
        seconds = abs(offset) * PERIOD
        way = "behind" if offset < 0 else "ahead"
        super().__init__(f"Invalid code: the phone's clock looks about {seconds} seconds "
                         f"{way}; set it to the automatic time and try a new code")
        self.audit_detail = {"offsetSteps": offset, "offsetSeconds": offset * PERIOD}


def device_totp(stores: Stores, d: Device) -> pyotp.TOTP:
    """The device's generator: its seed, and an imported seed's algorithm, digits, period."""
    params = {k: d.data[k] for k in ("algorithm", "digits", "period") if k in d.data}
    return totp_for(seed_of(stores, d), **params)


def wrong_code(stores: Stores, cfg: TotpConfig, devices: list[Device], code: str
               ) -> InvalidChallenge:
    """The error for a code no device accepted: ClockDrift when it matches one of them 2-10
    steps in the past (a slow phone), else the one answer for every wrong code. A code of a
    future step gets the plain answer: it would become valid, so saying so would hand a
    guesser a working code."""
    if not devices:  # the same work as for a known device, and the same answer as ever
        _wrong(stores, cfg, [(totp_for(DUMMY_SEED), 0)], code)
        return InvalidChallenge()
    return _wrong(stores, cfg, [(device_totp(stores, d), cfg.bounded(d.drift)) for d in devices
                                if d.kind == KIND], code)  # no hint from an HOTP token's codes


def wrong_enrollment_code(stores: Stores, cfg: TotpConfig, seed: str, code: str
                          ) -> InvalidChallenge:
    """The same for the code that should prove a pending seed (a phone set to the wrong time
    when the QR code is scanned), ahead or behind: whoever sends it was just shown the seed,
    so a future step discloses nothing."""
    return _wrong(stores, cfg, [(totp_for(seed), 0)], code, ahead=True)


def _wrong(stores: Stores, cfg: TotpConfig, totps: list[tuple[pyotp.TOTP, int]], code: str,
           *, ahead: bool = False) -> InvalidChallenge:
    now = stores.clock.now()
    code = normalise_code(code)
    for totp, drift in totps:
        offset = far_offset(totp, code, for_time=now, window=cfg.window, drift=drift,
                            ahead=ahead)
        if offset is not None:
            return ClockDrift(offset)
    return InvalidChallenge()


# What this service's codes prove: authenticator apps, and HOTP tokens (Frontegg's client
# sees them as authenticators; shared.mfa.hotp).
CODE_KINDS = (KIND, hotp.KIND)


def totp_devices(devices: list[Device | None]) -> list[Device]:
    """Only the authenticators (an SMS or WebAuthn id is as unknown as a made-up one)."""
    return [d for d in devices if d is not None and d.kind in CODE_KINDS]


def find_proof(stores: Stores, cfg: TotpConfig, devices: list[Device], code: str
               ) -> Proof | None:
    """The first device whose code (within the window) equals `code`.

    Every device is checked; with none, a dummy seed is decrypted and checked, so an unknown
    device takes the time a known one does (as Home Assistant's TOTP module does)."""
    now = stores.clock.now()
    code = normalise_code(code)
    if not devices:
        envelope = stores.cipher.encrypt(DUMMY_SEED.encode(), _DUMMY_AAD)
        seed = stores.cipher.decrypt(envelope, _DUMMY_AAD).decode()
        match_step(totp_for(seed), code, for_time=now, window=cfg.window)
        return None
    found: Proof | None = None
    for d in devices:
        if d.kind == hotp.KIND:
            counter = hotp.match(stores, d, code, cfg.hotp_look_ahead)
            if counter is not None and found is None:
                found = Proof(d, counter)
            continue
        totp = device_totp(stores, d)
        step = match_step(totp, code, for_time=now, window=cfg.window,
                          drift=cfg.bounded(d.drift))
        if step is not None and found is None:
            found = Proof(d, step, cfg.bounded(step - totp.timecode(now)))
    return found


async def spend(stores: Stores, proof: Proof, event: AuditEvent,
                use: TokenUse | None = None) -> bool:
    """Store the step as the device's last and its offset as the device's drift, with the
    success's audit row (and, mid-login, the mfaToken's `use`: TokenUsed when another request
    used it first); False when the step (or a later one) was used already, also by a parallel
    request (one conditional UPDATE decides)."""
    return await stores.devices.advance_step(proof.device.id, proof.step, stores.clock.time(),
                                             audit=stores.audit, event=event,
                                             drift=proof.offset, use=use)
