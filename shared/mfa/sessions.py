"""The MFA session behind an mfaToken: hash-only, TTL, failure count, single use.

An mfaToken is 256 random bits followed by `.` and the user's tag (a keyed digest of tenant and
user, see `user_tag`). Redis keeps only the token's hash, under a key that carries the tag as its
hash tag, so the session and the user's lockout state sit in one Redis Cluster slot and one
script can check and count both (shared.mfa.flow)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from shared.clock import Clock
from shared.crypto import CodeHasher, FieldCipher, new_token, token_hash
from shared.mfa.devices import Device
from shared.mfa.registry import CARRIED, KINDS
from shared.stores.ephemeral import Ephemeral

_TAG_LEN = 16
# The factors whose proof needs nothing but the device row: a session start, which lists the
# user's devices anyway, copies these rows into the session (the TOTP seed as stored: sealed
# to its tenant, user and device), so a verify reads no device from Postgres. The step advance
# stays a conditional UPDATE of the row itself, so a device removed since is refused there
# (last_step: an HOTP token's counter, where its look-ahead starts).
_CARRIED_FIELDS = ("id", "kind", "name", "data", "secret", "created_at", "drift",
                   "last_step")
# The most rows one session carries: the registry's default caps of the carried kinds (a user
# at every cap); a user with more (an operator raised a cap) is read from Postgres instead.
MAX_CARRIED = sum(k.cap for k in KINDS if k.carried)


def user_tag(hasher: CodeHasher, tenant_id: str, user_id: str) -> str:
    """A short keyed digest naming a user in Redis keys (no ids or emails in key names)."""
    return hasher.digest("user-tag", f"{tenant_id}\x00{user_id}")[:_TAG_LEN]


@dataclass(frozen=True)
class PendingEnrollment:
    """What a session start handed a user who must enroll (forced enrollment): the
    authenticator seed shown as a QR code and the recovery code shown beside it, both sealed
    with `pending_aad`. Either may be absent."""

    totp_seed: str | None = None
    recovery_code: str | None = None


def pending_aad(tenant_id: str, user_id: str) -> str:
    """Associated data for the pending secrets a session start hands out."""
    return f"pending\x00{tenant_id}\x00{user_id}"


@dataclass(frozen=True)
class MfaSession:
    """A user between the password step and the second factor."""

    key: str
    tenant_id: str
    user_id: str
    email: str
    expires_at: float
    purpose: str = "login"
    pending: PendingEnrollment = field(default_factory=PendingEnrollment)
    carried: tuple[Device, ...] | None = None  # None: not carried, read them from Postgres
    lock_at: int = 0  # the tenant's lockout threshold at session start (0: the deployment's)
    # The tenant's strategies at session start (None: not recorded, read the policy).
    strategies: tuple[str, ...] | None = None

    def devices(self, kind: str) -> list[Device] | None:
        """The carried devices of one kind, or None when this session carries none."""
        if self.carried is None:
            return None
        return [d for d in self.carried if d.kind == kind]

    @property
    def tag(self) -> str:
        """The user's tag (the hash tag of every key of this session)."""
        return tag_of(self.key)


def tag_of(key: str) -> str:
    """The hash tag inside a session key."""
    return key.split("{", 1)[1].split("}", 1)[0]


def session_key(token: str) -> str | None:
    """The Redis key of an mfaToken, or None when it cannot be one of ours."""
    if not token or len(token) > 200:
        return None
    _, dot, tag = token.rpartition(".")
    if not dot or len(tag) != _TAG_LEN or not all(c in "0123456789abcdef" for c in tag):
        return None
    return f"mfa:{{{tag}}}:{token_hash(token)}"


class MfaSessionStore:
    """Creates and reads mfaToken sessions (checking and consuming them is shared.mfa.flow's)."""

    def __init__(self, eph: Ephemeral, clock: Clock, hasher: CodeHasher, cipher: FieldCipher,
                 *, ttl: int) -> None:
        self._eph = eph
        self._clock = clock
        self._hasher = hasher
        self._cipher = cipher
        self._ttl = ttl

    async def create(self, *, tenant_id: str, user_id: str, email: str, purpose: str = "login",
                     pending: PendingEnrollment | None = None,
                     devices: list[Device] | None = None, lock_at: int = 0,
                     strategies: tuple[str, ...] | None = None) -> tuple[str, MfaSession]:
        """A new session; the mfaToken is returned once and never stored. `devices`: the
        user's devices as just listed (their registry.CARRIED rows are kept in the session);
        `lock_at`: the tenant's lockout threshold, and `strategies`, the tenant's strategies,
        both carried so a verify reads no policy. At most MAX_CARRIED rows are carried (the
        record stays small: a Lua script reads it on every attempt); a user with more (only
        by lowering a cap) is read from Postgres instead."""
        token = f"{new_token()}.{user_tag(self._hasher, tenant_id, user_id)}"
        key = session_key(token)
        assert key is not None
        carried = None if devices is None else tuple(d for d in devices
                                                     if d.kind in CARRIED)
        if carried is not None and len(carried) > MAX_CARRIED:
            carried = None
        s = MfaSession(key=key, tenant_id=tenant_id, user_id=user_id, email=email,
                       purpose=purpose, expires_at=self._clock.time() + self._ttl,
                       pending=pending or PendingEnrollment(), carried=carried,
                       lock_at=lock_at, strategies=strategies)
        body: dict[str, Any] = {"tenant_id": tenant_id, "user_id": user_id,
                                "expires_at": s.expires_at, "purpose": purpose,
                                "pending": asdict(s.pending)}
        # The record keeps only what the flows use; the email (the token's claim and the email
        # factor's address) sealed to this session, so Redis holds no address in clear; no
        # phone number; carried device secrets stay sealed as Postgres stores them.
        body["email"] = self._cipher.encrypt(email.encode(), key)
        if lock_at:
            body["lock_at"] = lock_at
        if strategies is not None:
            body["strategies"] = list(strategies)
        if carried is not None:
            body["carried"] = [{k: getattr(d, k) for k in _CARRIED_FIELDS} for d in carried]
        await self._eph.put(s.key, body, self._ttl)
        return token, s

    def from_record(self, key: str, rec: dict[str, Any]) -> MfaSession:
        """The session of a stored record."""
        pending = PendingEnrollment(**(rec.get("pending") or {}))
        t, u = rec["tenant_id"], rec["user_id"]
        carried, strategies = rec.get("carried"), rec.get("strategies")
        return MfaSession(key=key, tenant_id=t, user_id=u,
                          email=self._cipher.decrypt(rec["email"], key).decode(),
                          expires_at=rec["expires_at"], purpose=rec.get("purpose", "login"),
                          pending=pending, lock_at=int(rec.get("lock_at") or 0),
                          strategies=None if strategies is None else tuple(strategies),
                          carried=None if carried is None else tuple(
                              Device(tenant_id=t, user_id=u, **d) for d in carried))

    async def load(self, token: str) -> MfaSession | None:
        """The live session of a token, or None (expired looks exactly like unknown). Reads
        only: the routes that count an attempt load it through shared.mfa.flow instead."""
        key = session_key(token)
        rec = await self._eph.get(key) if key else None
        if key is None or rec is None or rec.get("expires_at", 0) <= self._clock.time():
            return None
        return self.from_record(key, rec)

    def side_key(self, s: MfaSession, name: str) -> str:
        """A key for state that belongs to this session (pending enrollments)."""
        return f"{s.key}:{name}"

    def remaining(self, s: MfaSession) -> float:
        """Seconds the session has left."""
        return max(1.0, s.expires_at - self._clock.time())
