"""Pending enrollment seeds (short-lived, encrypted) and TOTP devices (durable, encrypted)."""

from __future__ import annotations

from shared.mfa.devices import Device, device_aad, new_device_id
from shared.mfa.flow import pending_secret
from shared.mfa.registry import TOTP
from shared.mfa.sessions import MfaSession, pending_aad
from shared.stores.bundle import Stores

KIND = TOTP.name


def _user_key(tenant_id: str, user_id: str) -> str:
    return f"totp:pending:{tenant_id}:{user_id}"


def _user_aad(tenant_id: str, user_id: str) -> str:
    return f"totp-enroll\x00{tenant_id}\x00{user_id}"


class PendingSeeds:
    """Seeds handed out for enrollment, not yet proven by a code."""

    def __init__(self, stores: Stores, ttl: int) -> None:
        self._s = stores
        self._ttl = ttl

    async def put_for_user(self, tenant_id: str, user_id: str, seed: str) -> None:
        """Keep a logged-in user's pending seed (a new pre-enroll replaces the old one)."""
        env = self._s.cipher.encrypt(seed.encode(), _user_aad(tenant_id, user_id))
        expires = self._s.clock.time() + self._ttl  # checked by the injected clock too
        await self._s.eph.put(_user_key(tenant_id, user_id), {"seed": env, "exp": expires},
                              self._ttl)

    async def get_for_user(self, tenant_id: str, user_id: str) -> tuple[str, str] | None:
        """(seed, envelope) of the user's pending enrollment, or None."""
        rec = await self._s.eph.get(_user_key(tenant_id, user_id))
        if rec is None or rec.get("exp", 0) <= self._s.clock.time():
            return None
        return self._s.cipher.decrypt(rec["seed"], _user_aad(tenant_id, user_id)).decode(), \
            rec["seed"]

    async def take_for_user(self, tenant_id: str, user_id: str, envelope: str) -> bool:
        """Consume the pending seed that was checked; True for exactly one caller."""
        rec = await self._s.eph.take(_user_key(tenant_id, user_id))
        return rec is not None and rec.get("seed") == envelope

    async def put_for_session(self, session: MfaSession, seed: str) -> None:
        """Keep a seed for a mid-login enrollment, as long as the mfaToken lives."""
        aad = pending_aad(session.tenant_id, session.user_id)
        await self._s.eph.put(self._s.sessions.side_key(session, KIND),
                              {"seed": self._s.cipher.encrypt(seed.encode(), aad)},
                              self._s.sessions.remaining(session))

    async def for_session(self, session: MfaSession) -> str | None:
        """The seed of a mid-login enrollment: from the auth pre-enroll, else from the session
        start (forced enrollment), else None."""
        rec = await self._s.eph.get(self._s.sessions.side_key(session, KIND))
        return pending_secret(self._s, session, rec["seed"] if rec else session.pending.totp_seed)

    async def claim_session_enrollment(self, session: MfaSession) -> bool:
        """One enrollment per mfaToken: True for exactly one of parallel requests."""
        return await self._s.eph.put_new(self._s.sessions.side_key(session, "totp-enrolled"),
                                         {}, self._s.sessions.remaining(session))


async def add_device(stores: Stores, *, tenant_id: str, user_id: str, seed: str,
                     step: int) -> Device:
    """Store a new authenticator; the step that proved it is already spent (replay guard)."""
    device_id = new_device_id()
    now = stores.clock.time()
    device = Device(id=device_id, tenant_id=tenant_id, user_id=user_id, kind=KIND,
                    created_at=now, name=TOTP.label, last_step=step, last_used_at=now,
                    secret=stores.cipher.encrypt(seed.encode(),
                                                 device_aad(tenant_id, user_id, device_id)))
    await stores.devices.add(device)
    return device


def seed_of(stores: Stores, device: Device) -> str:
    """The device's seed, decrypted with its tenant/user/device binding."""
    return stores.cipher.decrypt(device.secret or "", device.aad()).decode()
