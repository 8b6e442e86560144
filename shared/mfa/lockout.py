"""Consecutive failed attempts per (tenant, user, factor), separate from any password counter.

NIST SP 800-63B 5.2.2: count consecutive failed attempts until a success, and lock at no more
than 100. Here a growing delay starts at MFA_LOCKOUT_DELAY_AFTER (1 s, 2 s, 4 s ... up to
15 min) and the factor locks at MFA_LOCKOUT_MAX_FAILURES (50); a success with the factor, a
recovery, or an operator's unlock clears it. The record (count, delay, lock) expires
MFA_LOCKOUT_TTL (7 days) after the last attempt counted or refused on it, so failures that
nobody follows up (an attacker's, a user who gave up) do not fill Redis for good; refused
attempts on a locked factor keep the lock alive. The user's other factors and recovery keep
working. The counting itself happens in one atomic step with
the mfaToken's (shared.mfa.flow, Ephemeral.reserve); this module names the keys and reads or
clears the state."""

from __future__ import annotations

from dataclasses import dataclass

from shared.crypto import CodeHasher
from shared.mfa.config_store import ConfigRepository
from shared.mfa.registry import LOCKOUT_FACTORS
from shared.mfa.sessions import user_tag
from shared.settings import Settings
from shared.stores.ephemeral import Ephemeral, Limits


@dataclass(frozen=True)
class LockState:
    """Where a user's factor stands: consecutive attempts, locked, seconds of delay left."""

    failures: int
    locked: bool
    retry_after: float


# Seconds a process keeps a tenant's lockout threshold before reading it again: a changed
# lockout policy reaches every process within this time, and verifying costs no extra query.
POLICY_TTL = 10.0


class Lockout:
    """Keys, limits, read-only checks and resets of the per-factor lockout."""

    def __init__(self, eph: Ephemeral, settings: Settings, hasher: CodeHasher,
                 configs: ConfigRepository) -> None:
        self._eph = eph
        self._hasher = hasher
        self._configs = configs
        self._cache: dict[str, tuple[int, float]] = {}
        self.limits = Limits(session_max=settings.mfa_token_max_failures,
                             delay_after=settings.lockout_delay_after,
                             lock_at=settings.lockout_max_failures,
                             ttl=float(settings.lockout_ttl))

    async def tenant_lock_at(self, tenant_id: str, *, now: float) -> int:
        """Consecutive failures that lock a factor of the tenant: its lockout policy's
        maxAttempts when enabled, never above the deployment's (a tenant may be stricter,
        not laxer: NIST SP 800-63B 5.2.2); cached for POLICY_TTL seconds."""
        hit = self._cache.get(tenant_id)
        if hit is not None and hit[1] > now:
            return hit[0]
        doc = await self._configs.layered("lockout", tenant_id)
        lock_at = self.limits.lock_at
        if doc.get("enabled") and isinstance(doc.get("maxAttempts"), int):
            lock_at = max(1, min(lock_at, doc["maxAttempts"]))
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[tenant_id] = (lock_at, now + POLICY_TTL)
        return lock_at

    def forget_policy(self, tenant_id: str | None = None) -> None:
        """Drop cached thresholds (this process saved a lockout policy)."""
        if tenant_id is None:
            self._cache.clear()
        else:
            self._cache.pop(tenant_id, None)

    def key(self, tenant_id: str, user_id: str, factor: str) -> str:
        """The lockout record's key; its hash tag is the user's, like the user's sessions."""
        return self.key_for_tag(user_tag(self._hasher, tenant_id, user_id), factor)

    @staticmethod
    def key_for_tag(tag: str, factor: str) -> str:
        """The same key from a session's tag."""
        return f"lock:{{{tag}}}:{factor}"

    async def state(self, tenant_id: str, user_id: str, factor: str, *, now: float) -> LockState:
        """The factor's state for the user, counting nothing."""
        r = await self._eph.reserve(self.key(tenant_id, user_id, factor), None, self.limits,
                                    now=now, count=False)
        return LockState(failures=r.failures, locked=r.status == "locked",
                         retry_after=r.retry_after)

    async def reset(self, tenant_id: str, user_id: str, *factors: str) -> None:
        """Clear the count, delay and lock (recovery, an operator's unlock): one round trip."""
        keys = [self.key(tenant_id, user_id, f) for f in factors or LOCKOUT_FACTORS]
        await self._eph.delete(*keys)
