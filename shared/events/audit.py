"""Append-only audit trail: one row per enroll, verify, failure, lockout, disable, recovery,
and the operators' actions. The events that matter outside (see EVENT_TYPES) also get an
outbox row, written in the same statement (Postgres) or transaction (SQLite) as their audit
row, so a webhook or notification is never lost when the process dies between the two.

Who tried: every row written while serving a request carries the client's address (as
MFA_AUDIT_ADDRESS asks), the User-Agent's label, the request id and the trace id
(shared.http.caller, shared.http.logs); an attempt's row also the lock threshold that applied.
Refused attempts are grouped (`refused`): one row per user, factor, reason and minute whose
`attempts` grows."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.clock import Clock
from shared.http.caller import caller_var, recorded_address
from shared.http.logs import language_var, request_id_var, trace_id_var
from shared.stores.database import Database, Executor

_COLS = ("id, at, tenant_id, user_id, factor, action, outcome, device_id, request_id, detail, "
         "client_ip, user_agent, trace_id, lock_threshold")
_N = len(_COLS.split(","))
_OUTBOX_COLS = "id, at, tenant_id, user_id, type, payload"
_INSERT = f"INSERT INTO audit_events ({_COLS}) VALUES ({','.join(f'${i + 1}' for i in range(_N))})"
# A refused attempt's group row: created by the first refusal of its minute, its count raised
# by later ones (never lowered: two writers may arrive out of order).
_GROUP = (f"INSERT INTO audit_events ({_COLS}, attempts, last_at) "
          f"VALUES ({','.join(f'${i + 1}' for i in range(_N + 2))}) ON CONFLICT (id) DO UPDATE "
          "SET attempts = {max}(audit_events.attempts, excluded.attempts), "
          "last_at = excluded.last_at")
_GROUPS = uuid.UUID("6f1c3c52-5c1d-4c1e-9a3e-7d2f2b8f0a24")  # namespace of group row ids

# audit action -> outbox event type (only successes, and the lock itself, leave the service)
EVENT_TYPES = {
    "enroll": "mfa.factor.enrolled",
    "import": "mfa.factor.imported",
    "disable": "mfa.factor.removed",
    "reset": "mfa.reset",
    "recovery": "mfa.recovery_code.used",
    "lockout": "mfa.factor.locked",
    "unlock": "mfa.factor.unlocked",
    "remembered-revoke": "mfa.remembered_devices.revoked",
}


@dataclass(frozen=True)
class TokenUse:
    """An mfaToken's single use, decided in the statement that writes the login's success: the
    token's hash goes into mfa_token_uses, whose primary key lets only the first such statement
    write (a parallel one waits for it, then writes nothing). Kept until the token expires."""

    token_hash: str
    expires_at: float


class TokenUsed(Exception):
    """The change held, but the mfaToken had been used by another request: no audit or outbox
    row was written (on SQLite the change is rolled back too)."""


@dataclass(frozen=True)
class AuditEvent:
    """One audit row, before it is written."""

    tenant_id: str
    user_id: str
    factor: str
    action: str
    outcome: str
    device_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    lock_threshold: int | None = None  # an attempt's: the failures that lock the factor

    def event_type(self) -> str | None:
        """The outbox event type this row raises, or None."""
        kind = EVENT_TYPES.get(self.action)
        if kind is None or (self.outcome != "success" and self.action != "lockout"):
            return None
        return kind


def event_payload(e: AuditEvent, event_id: str, at: float, kind: str) -> dict[str, Any]:
    """What a webhook receiver gets: ids and the audit detail (no codes or secrets there),
    and the Accept-Language of the request that caused it (the user's notification's)."""
    out = {"id": event_id, "type": kind, "at": at, "tenantId": e.tenant_id,
           "userId": e.user_id, "factor": e.factor, "deviceId": e.device_id,
           "detail": e.detail}
    if language_var.get():
        out["language"] = language_var.get()
    return out


def _marks(start: int, count: int, casts: dict[int, str] | None = None) -> str:
    """$start..$start+count-1; a SELECT list types its parameters text, so the ones that are
    not (a time, a number) are cast."""
    casts = casts or {}
    return ",".join(f"${start + i}" + (f"::{casts[i]}" if i in casts else "")
                    for i in range(count))


class AuditLog:
    """Writes audit rows (and their outbox rows); never codes, secrets, tokens, phone numbers
    or emails."""

    def __init__(self, db: Database, clock: Clock, *, trusted: Sequence[str] = (),
                 address: str = "subscriber") -> None:
        self._db = db
        self._clock = clock
        self._trusted = tuple(trusted)
        self._address = address

    def who(self) -> tuple[str | None, str | None]:
        """The request's client: (address, User-Agent label); (None, None) outside one."""
        caller = caller_var.get()
        if caller is None:
            return None, None
        return (recorded_address(caller.address(self._trusted), self._address) or None,
                caller.label() or None)

    def _row(self, e: AuditEvent, eid: str, at: float) -> tuple[Any, ...]:
        return (eid, at, e.tenant_id, e.user_id, e.factor, e.action, e.outcome, e.device_id,
                request_id_var.get(), json.dumps(e.detail), *self.who(), trace_id_var.get(),
                e.lock_threshold)

    def _rows(self, e: AuditEvent) -> tuple[tuple[Any, ...], tuple[Any, ...] | None]:
        eid, at = str(uuid.uuid4()), self._clock.time()
        audit = self._row(e, eid, at)
        kind = e.event_type()
        if kind is None:
            return audit, None
        return audit, (eid, at, e.tenant_id, e.user_id, kind,
                       json.dumps(event_payload(e, eid, at, kind)))

    async def record(self, *, tenant_id: str, user_id: str, factor: str, action: str,
                     outcome: str, device_id: str | None = None,
                     detail: dict[str, Any] | None = None) -> None:
        """Append one event."""
        await self.write(AuditEvent(tenant_id, user_id, factor, action, outcome, device_id,
                                    detail or {}))

    async def write(self, event: AuditEvent) -> None:
        """Append one prepared event (and its outbox row, atomically)."""
        await self.with_change(None, (), event)

    async def with_change(self, sql: str | None, args: tuple[Any, ...],
                          event: AuditEvent, *, use: TokenUse | None = None) -> bool:
        """Run a conditional change and append `event` (once) only if it touched a row,
        atomically (one statement on Postgres, one transaction on SQLite); True when it did.
        Without `sql`, just append the event. With `use`, the same statement also records the
        mfaToken's use, and the event is written only by the first use: TokenUsed when the
        change held but the token was used already."""
        audit, outbox = self._rows(event)
        uses = (use.token_hash, use.expires_at) if use is not None else ()
        if self._db.dialect == "postgres":
            if use is None:
                return await self._db.execute(
                    _pg_statement(sql, len(args), outbox is not None),
                    *args, *audit, *(outbox or ())) >= 1
            row = await self._db.fetchrow(_pg_use_statement(sql, len(args), outbox is not None),
                                          *args, *audit, *(outbox or ()), *uses)
            assert row is not None
            if not row["changed"]:
                return False
            if not row["used"]:
                raise TokenUsed()
            return True
        if sql is None and outbox is None and use is None:  # one row: no transaction needed
            await self._db.execute(_INSERT, *audit)
            return True
        async with self._db.transaction() as tx:
            if sql is not None and await tx.execute(sql, *args) < 1:
                return False
            if use is not None and await tx.execute(_USE_SQLITE, *uses) < 1:
                raise TokenUsed()  # rolls the change back
            await self._insert(tx, audit, outbox)
            return True

    async def write_in(self, tx: Executor, event: AuditEvent) -> None:
        """Append `event` (and its outbox row) inside the caller's transaction, so it lands
        with the caller's changes or not at all."""
        await self._insert(tx, *self._rows(event))

    @staticmethod
    async def _insert(tx: Executor, audit: tuple[Any, ...],
                      outbox: tuple[Any, ...] | None) -> None:
        await tx.execute(_INSERT, *audit)
        if outbox is not None:
            await tx.execute(f"INSERT INTO outbox_events ({_OUTBOX_COLS}) "
                             f"VALUES ({_marks(1, 6)})", *outbox)

    async def grouped(self, event: AuditEvent, group: str, attempts: int) -> None:
        """The row of a group of refused attempts (`group` names it: user, factor, reason,
        minute): created with the first, its `attempts` raised to `attempts` later."""
        at = self._clock.time()
        eid = str(uuid.uuid5(_GROUPS, group))
        sql = _GROUP.format(max="GREATEST" if self._db.dialect == "postgres" else "MAX")
        await self._db.execute(sql, *self._row(event, eid, at), attempts, at)

    async def for_user(self, tenant_id: str, user_id: str) -> list[dict[str, Any]]:
        """A user's events, oldest first (tests and support)."""
        return await self._db.fetch(
            "SELECT factor, action, outcome, device_id, detail FROM audit_events "
            "WHERE tenant_id = $1 AND user_id = $2 ORDER BY at, id", tenant_id, user_id)


def _audit_marks(start: int) -> str:
    """An audit row's parameters in a SELECT list: `at` a time, `lock_threshold` a number."""
    return _marks(start, _N, {1: "double precision", _N - 1: "integer"})


def _outbox_marks(start: int) -> str:
    """An outbox row's parameters in a SELECT list: `at` a time."""
    return _marks(start, 6, {1: "double precision"})


_USE_SQLITE = ("INSERT INTO mfa_token_uses (token_hash, expires_at) VALUES ($1, $2) "
               "ON CONFLICT DO NOTHING")


def _pg_use_statement(sql: str | None, n: int, with_outbox: bool) -> str:
    """One statement: the change (if any); the token's use only when the change touched a row
    and no other statement recorded the use first (the primary key decides); the audit row
    (and outbox row) only when the use was recorded. It answers whether each part held."""
    audit = _audit_marks(n + 1)
    first_use = n + 1 + _N + (6 if with_outbox else 0)
    ctes = [f"changed AS ({sql} RETURNING 1)"] if sql is not None else []
    only_changed = " WHERE EXISTS (SELECT 1 FROM changed)" if sql is not None else ""
    ctes.append(f"used AS (INSERT INTO mfa_token_uses (token_hash, expires_at) "
                f"SELECT ${first_use}, ${first_use + 1}::double precision{only_changed} "
                "ON CONFLICT DO NOTHING RETURNING 1)")
    ctes.append(f"audited AS (INSERT INTO audit_events ({_COLS}) SELECT {audit} "
                "WHERE EXISTS (SELECT 1 FROM used) RETURNING 1)")
    if with_outbox:
        ctes.append(f"outboxed AS (INSERT INTO outbox_events ({_OUTBOX_COLS}) "
                    f"SELECT {_outbox_marks(n + 1 + _N)} FROM audited)")
    changed = "EXISTS (SELECT 1 FROM changed)" if sql is not None else "true"
    return (f"WITH {', '.join(ctes)} SELECT {changed} AS changed, "
            "EXISTS (SELECT 1 FROM used) AS used")


def _pg_statement(sql: str | None, n: int, with_outbox: bool) -> str:
    """One statement: the change (if any) as a CTE, the audit row only when it touched a row,
    and the outbox row only when the audit row was written."""
    audit = _audit_marks(n + 1)
    if sql is None and not with_outbox:
        return _INSERT
    ctes = [f"changed AS ({sql} RETURNING 1)"] if sql is not None else []
    where = " WHERE EXISTS (SELECT 1 FROM changed)" if sql is not None else ""
    insert = f"INSERT INTO audit_events ({_COLS}) SELECT {audit}{where}"
    if not with_outbox:
        return f"WITH {ctes[0]} {insert}"
    ctes.append(f"audited AS ({insert} RETURNING 1)")
    outbox = _outbox_marks(n + 1 + _N)
    return (f"WITH {', '.join(ctes)} INSERT INTO outbox_events ({_OUTBOX_COLS}) "
            f"SELECT {outbox} FROM audited")
