"""Per-tenant MFA policy over the deployment-wide default (settings)."""

from __future__ import annotations

import functools
import json
import uuid
from dataclasses import asdict, dataclass, replace
from typing import Any

import re2

from shared.clock import Clock
from shared.mfa.registry import Kind
from shared.settings import Settings
from shared.stores.database import Database


@dataclass(frozen=True)
class Policy:
    """The effective MFA policy of one tenant, in Frontegg's field names."""

    id: str
    enforceMFAType: str
    strategies: tuple[str, ...]
    allowRememberMyDevice: bool
    mfaDeviceExpiration: int
    phoneNumberRegexp: str | None = None
    smsAllowedCountryCodes: tuple[str, ...] = ()
    userVerification: str = "preferred"
    # Seconds within which a logged-in user must have passed MFA to add another factor (the
    # token's amr holds "mfa" and its auth_time is that fresh); 0: off, as on Frontegg.
    enrollRequiresMfaWithin: int = 0
    # Seconds within which a user must have passed MFA to regenerate their recovery-code set.
    recoveryCodesRequireMfaWithin: int = 600
    # Seconds within which a user must have passed MFA (a factor, or a passkey login) to
    # register a passkey: a passkey logs in by itself, so never with a password-only token.
    passkeysRequireMfaWithin: int = 300
    # /mfa/recover with a code of the set that leaves codes over keeps the user's devices
    # (false: Frontegg's behaviour, every recovery removes them).
    recoverKeepsDevices: bool = False
    # Our own: email the user when a factor is added or removed, a recovery code is used or a
    # factor locks (with MFA_NOTIFICATIONS on for the deployment).
    notifyUsers: bool = True
    createdAt: str | None = None
    updatedAt: str | None = None

    def allows(self, strategy: str) -> bool:
        """Whether a strategy is active for this tenant."""
        return strategy in self.strategies

    def allows_kind(self, kind: Kind) -> bool:
        """Whether any strategy that governs that kind of credential is active."""
        return any(s in self.strategies for s in kind.strategies)

    def to_json(self) -> dict[str, Any]:
        """JSON form for the configuration endpoints."""
        out = asdict(self)
        out["strategies"] = list(self.strategies)
        out["smsAllowedCountryCodes"] = list(self.smsAllowedCountryCodes)
        return out


# RE2 matches in time linear in the input, whatever the pattern: a tenant's
# phoneNumberRegexp cannot stall the event loop (ReDoS) the way a backtracking engine can.
# Constructs that need backtracking (back-references, look-around) do not compile, and the
# memory cap refuses patterns whose program would be huge.
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False
_RE2_OPTIONS.max_mem = 1 << 20


@functools.lru_cache(maxsize=1024)
def tenant_pattern(pattern: str) -> Any:
    """A tenant's phoneNumberRegexp compiled with RE2; ValueError when RE2 cannot run it."""
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except re2.error:
        raise ValueError("Not a valid regular expression (RE2 syntax: no back-references "
                         "or look-around)") from None


def default_policy(settings: Settings) -> Policy:
    """The deployment-wide default from settings."""
    return Policy(
        id="default",
        enforceMFAType=settings.enforce_mfa,
        strategies=tuple(settings.default_strategies),
        allowRememberMyDevice=settings.allow_remember_device,
        mfaDeviceExpiration=min(settings.device_expiration, settings.device_expiration_cap),
    )


def iso_time(t: float) -> str:
    """Unix seconds as ISO 8601 UTC with a Z."""
    from datetime import UTC, datetime

    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


class PolicyRepository:
    """Stored tenant overrides, merged onto the default."""

    def __init__(self, db: Database, settings: Settings, clock: Clock) -> None:
        self._db = db
        self._settings = settings
        self._clock = clock

    async def get(self, tenant_id: str) -> Policy:
        """The tenant's effective policy: the deployment default, the environment's stored
        policy (tenant '', written by a vendor without frontegg-tenant-id) over it, the
        tenant's over that; one round trip."""
        base = default_policy(self._settings)
        rows = await self._db.fetch(
            "SELECT tenant_id, id, policy, created_at, updated_at FROM tenant_policies "
            "WHERE tenant_id IN ($1, '') ORDER BY tenant_id", tenant_id)
        for row in rows:  # '' sorts first
            base = self._merge(base, json.loads(row["policy"]), row["id"],
                               iso_time(row["created_at"]), iso_time(row["updated_at"]))
        return base

    def _merge(self, base: Policy, doc: dict[str, Any], pid: str, created: str | None,
               updated: str | None) -> Policy:
        skip = ("id", "createdAt", "updatedAt")
        fields: dict[str, Any] = {k: (tuple(v) if isinstance(v, list) else v)
                                  for k, v in doc.items()
                                  if k in Policy.__dataclass_fields__ and k not in skip}
        merged = replace(base, **fields, id=pid, createdAt=created, updatedAt=updated)
        cap = self._settings.device_expiration_cap
        return replace(merged, mfaDeviceExpiration=max(0, min(merged.mfaDeviceExpiration, cap)))

    async def save(self, tenant_id: str, changes: dict[str, Any], *, replace_all: bool) -> Policy:
        """Create or replace (POST) or merge into (PATCH) the tenant's stored policy."""
        now = self._clock.time()
        async with self._db.transaction() as tx:
            row = await tx.fetchrow(
                "SELECT id, policy, created_at FROM tenant_policies WHERE tenant_id = $1",
                tenant_id)
            doc = {} if (row is None or replace_all) else json.loads(row["policy"])
            doc.update(changes)
            pid = row["id"] if row else str(uuid.uuid4())
            created = row["created_at"] if row else now
            await tx.execute(
                "INSERT INTO tenant_policies (tenant_id, id, policy, created_at, updated_at) "
                "VALUES ($1,$2,$3,$4,$5) ON CONFLICT (tenant_id) DO UPDATE SET "
                "policy = excluded.policy, updated_at = excluded.updated_at",
                tenant_id, pid, json.dumps(doc), created, now)
        return await self.get(tenant_id)
