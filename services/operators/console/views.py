"""What the console shows, gathered from the cores (no HTTP): a user's credentials of every
kind the factor registry declares, lockouts and when they lift, trusted devices, recovery
codes and recent audit events; and a tenant's MFA policy, strategies and lockout policy.
Nothing here reads a secret: no seed, code, token or full phone number reaches a page."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from services.operators import configuration, trail
from shared.http.access import TenantCaller
from shared.http.errors import NotFound
from shared.mfa import resets
from shared.mfa.registry import KINDS, Kind
from shared.stores.bundle import Stores

TIMELINE = 50  # audit events on a user's page, most recent first
# Audit columns shown beside the event when the rows carry them (who tried: the address and
# the browser's label).
TIMELINE_COLUMNS: tuple[dict[str, str], ...] = (
    {"key": "client_ip", "title": "Address"}, {"key": "user_agent", "title": "Browser"})


@dataclass
class KindView:
    """One kind of credential of the user: its declaration, the user's rows of it (stored
    kinds) and how many they hold (listed kinds; None for one nothing of ours holds)."""

    kind: Kind
    rows: list[dict[str, Any]] = field(default_factory=list)
    count: int | None = None


@dataclass
class UserView:
    """Everything the user's page shows."""

    tenant_id: str
    user_id: str
    email: str | None
    kinds: list[KindView]
    lockouts: list[dict[str, Any]]
    trusted: list[dict[str, Any]]
    recovery_set_made: float | None
    timeline: list[dict[str, Any]]

    @property
    def columns(self) -> list[dict[str, str]]:
        """The TIMELINE_COLUMNS the audit rows carry."""
        return [c for c in TIMELINE_COLUMNS if any(c["key"] in r for r in self.timeline)]

    @property
    def locked(self) -> list[dict[str, Any]]:
        """The lockouts that hold now (locked, or a delay still running)."""
        return [x for x in self.lockouts if x["locked"] or x["retryAfter"] > 0]

    @property
    def known(self) -> bool:
        """Whether the service holds anything about the user."""
        return bool(self.email or any(k.count for k in self.kinds) or self.timeline)


def _detail(row: dict[str, Any]) -> dict[str, Any]:
    raw = row.get("detail")
    try:
        detail = json.loads(raw) if isinstance(raw, str) else (raw or {})
    except ValueError:
        detail = {}
    return detail if isinstance(detail, dict) else {}


async def user_view(stores: Stores, tenant_id: str, user_id: str) -> UserView:
    """The user's page, read through the operators' cores."""
    listed = await resets.list_factors(stores, tenant_id, user_id)
    counts = {c["kind"]: c["count"] for c in listed["credentials"]}
    kinds = [KindView(k, [f for f in listed["factors"] if f["kind"] == k.name],
                      counts.get(k.name)) for k in KINDS]
    explained = await trail.explain_lockout(stores, tenant_id, user_id)
    lockouts = [{**x, "label": counter_label(x["factor"])} for x in explained["factors"]]
    _, made = await stores.recovery_sets.remaining(tenant_id, user_id)
    rows = await trail.recent(stores.db, tenant_id, user_id, TIMELINE)
    return UserView(
        tenant_id=tenant_id, user_id=user_id,
        email=await stores.users.email_of(tenant_id, user_id),
        kinds=kinds, lockouts=lockouts,
        trusted=await stores.remembered.list_for_user(tenant_id, user_id),
        recovery_set_made=made,
        timeline=[{**r, "detail": _detail(r)} for r in rows])


def counter_label(counter: str) -> str:
    """A lockout counter by the labels of the kinds whose wrong proofs count on it
    (`Authenticator app / Hardware token`)."""
    return " / ".join(k.label for k in KINDS if k.lockout == counter) or counter


async def find_users(stores: Stores, tenant_id: str, by: str, q: str) -> list[str]:
    """The user ids a search names: the id itself, or the users last seen with the email."""
    if by == "email":
        return await stores.users.users_by_email(tenant_id, q)
    return [q]


@dataclass
class TenantView:
    """A tenant's MFA policy, strategies and lockout policy."""

    tenant_id: str
    policy: dict[str, Any]
    strategies: list[dict[str, Any]]
    lockout: dict[str, Any]
    lockout_own: bool
    deployment_lock_at: int


async def tenant_view(stores: Stores, caller: TenantCaller) -> TenantView:
    """Read through the configuration core, as the Frontegg configuration routes do."""
    try:
        lockout, own = await configuration.get_lockout(stores, caller), True
    except NotFound:
        lockout, own = await configuration.vendor_lockout(stores), False
    if own and (await stores.configs.get(configuration.LOCKOUT, caller.tenant_id)) is None:
        own = False  # the environment's, not the tenant's own
    return TenantView(
        tenant_id=caller.tenant_id,
        policy=await configuration.policy_of(stores, caller=caller),
        strategies=(await configuration.strategies(stores, tenant_id=caller.tenant_id))[
            "strategies"],
        lockout=lockout, lockout_own=own, deployment_lock_at=stores.lockout.limits.lock_at)
