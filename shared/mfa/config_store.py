"""Frontegg's configuration documents other than the MFA policy (lockout policy, MFA
configuration), per tenant over an environment-wide row (tenant '') over the settings."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from shared.clock import Clock
from shared.stores.database import Database

ENVIRONMENT = ""  # the tenant id of the environment-wide row
MFA_CONFIG = "mfa"  # {authenticationApp: {serviceName}, sms|email: {tokenLifetimeSeconds}, ...}


@dataclass(frozen=True)
class StoredConfig:
    """One stored document with its id and times."""

    id: str
    doc: dict[str, Any]
    created_at: float
    updated_at: float


class ConfigRepository:
    """Rows of mfa_configurations: one document per (tenant, kind)."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        # Postgres: a parallel merge waits for this one (SQLite serialises transactions).
        self._for_update = " FOR UPDATE" if db.dialect == "postgres" else ""

    async def get(self, kind: str, tenant_id: str) -> StoredConfig | None:
        """The document stored for exactly this tenant ('' = the environment), or None."""
        row = await self._db.fetchrow(
            "SELECT id, doc, created_at, updated_at FROM mfa_configurations "
            "WHERE tenant_id = $1 AND kind = $2", tenant_id, kind)
        if row is None:
            return None
        return StoredConfig(row["id"], json.loads(row["doc"]), row["created_at"],
                            row["updated_at"])

    async def layered(self, kind: str, tenant_id: str) -> dict[str, Any]:
        """The environment's document with the tenant's over it (one round trip)."""
        rows = await self._db.fetch(
            "SELECT tenant_id, doc FROM mfa_configurations WHERE kind = $1 AND "
            "tenant_id IN ($2, '') ORDER BY tenant_id", kind, tenant_id)
        out: dict[str, Any] = {}
        for row in rows:  # '' sorts first: the tenant's row overrides the environment's
            for key, value in json.loads(row["doc"]).items():
                out[key] = {**out[key], **value} if isinstance(value, dict) and isinstance(
                    out.get(key), dict) else value
        return out

    async def mfa_setting(self, tenant_id: str, section: str, name: str, default: Any) -> Any:
        """One value of the tenant's MFA configuration (configurations/v1/mfa), else
        `default` (the deployment's setting)."""
        stored = (await self.layered(MFA_CONFIG, tenant_id)).get(section)
        value = stored.get(name) if isinstance(stored, dict) else None
        return default if value is None else value

    async def create(self, kind: str, tenant_id: str, doc: dict[str, Any]) -> bool:
        """Store a new document; False when one exists already (one winner)."""
        now = self._clock.time()
        return await self._db.execute(
            "INSERT INTO mfa_configurations (tenant_id, kind, id, doc, created_at, updated_at) "
            "VALUES ($1,$2,$3,$4,$5,$5) ON CONFLICT (tenant_id, kind) DO NOTHING",
            tenant_id, kind, str(uuid.uuid4()), json.dumps(doc), now) == 1

    async def update(self, kind: str, tenant_id: str, doc: dict[str, Any]) -> bool:
        """Replace an existing document; False when there is none."""
        return await self._db.execute(
            "UPDATE mfa_configurations SET doc = $3, updated_at = $4 "
            "WHERE tenant_id = $1 AND kind = $2", tenant_id, kind, json.dumps(doc),
            self._clock.time()) == 1

    async def merge(self, kind: str, tenant_id: str, changes: dict[str, Any]) -> StoredConfig:
        """Create or merge into the document (sections merged key by key)."""
        async with self._db.transaction() as tx:
            row = await tx.fetchrow(
                "SELECT doc FROM mfa_configurations WHERE tenant_id = $1 AND kind = $2"
                + self._for_update, tenant_id, kind)
            doc = json.loads(row["doc"]) if row else {}
            for key, value in changes.items():
                doc[key] = {**doc.get(key, {}), **value} if isinstance(value, dict) else value
            now = self._clock.time()
            await tx.execute(
                "INSERT INTO mfa_configurations (tenant_id, kind, id, doc, created_at, "
                "updated_at) VALUES ($1,$2,$3,$4,$5,$5) ON CONFLICT (tenant_id, kind) "
                "DO UPDATE SET doc = excluded.doc, updated_at = excluded.updated_at",
                tenant_id, kind, str(uuid.uuid4()), json.dumps(doc), now)
        stored = await self.get(kind, tenant_id)
        assert stored is not None
        return stored
