"""Proving possession of an authenticator with one code: the same work and the same answer
for a wrong code, an unknown device and another user's device; each time step used once."""

from __future__ import annotations

from dataclasses import dataclass

from services.totp.config import TotpConfig
from services.totp.otp import DUMMY_SEED, match_step, normalise_code, totp_for
from services.totp.store import KIND, seed_of
from shared.audit import AuditEvent
from shared.devices import Device
from shared.stores import Stores

_DUMMY_AAD = "totp-dummy"


@dataclass(frozen=True)
class Proof:
    """A code that matched a device at a time step (not yet spent)."""

    device: Device
    step: int


def totp_devices(devices: list[Device | None]) -> list[Device]:
    """Only the authenticator apps (an SMS or WebAuthn id is as unknown as a made-up one)."""
    return [d for d in devices if d is not None and d.kind == KIND]


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
        step = match_step(totp_for(seed_of(stores, d)), code, for_time=now, window=cfg.window)
        if step is not None and found is None:
            found = Proof(d, step)
    return found


async def spend(stores: Stores, proof: Proof, event: AuditEvent) -> bool:
    """Store the step as the device's last, with the success's audit row; False when it (or a
    later one) was used already, also by a parallel request (one conditional UPDATE decides)."""
    return await stores.devices.advance_step(proof.device.id, proof.step, stores.clock.time(),
                                             audit=stores.audit, event=event)
