"""Console sign-ins: a random cookie token, its record kept in the short-lived store (Redis in
split mode, so every operators replica knows it) under the token's hash. A session ends after
`idle_timeout` seconds without a request, after `max_age` in all, or at sign-out. Each holds
its own CSRF token, which every form posts back. The OIDC sign-in's pending state (PKCE
verifier, nonce) is kept the same way, for ten minutes, and used once."""

from __future__ import annotations

import hmac
from dataclasses import asdict, dataclass
from typing import Any

from services.operators.console.config import ConsoleConfig
from shared.clock import Clock
from shared.crypto import new_token, token_hash
from shared.stores.ephemeral import Ephemeral

COOKIE = "mfa_console"
PENDING_COOKIE = "mfa_console_signin"
PENDING_TTL = 600


@dataclass(frozen=True)
class ConsoleSession:
    """Who is signed in: the audit's actor (`console:<subject>`), a name to show, the role,
    and the session's CSRF token."""

    actor: str
    name: str
    role: str
    csrf: str
    started: float
    seen: float

    @property
    def admin(self) -> bool:
        """Whether this operator may act (unlock, remove, reset, revoke, edit policies)."""
        return self.role == "admin"

    def csrf_ok(self, sent: str | None) -> bool:
        """Whether a form carried this session's CSRF token (constant-time)."""
        return sent is not None and hmac.compare_digest(sent.encode(), self.csrf.encode())


class ConsoleSessions:
    """Start, load (sliding the idle timeout), end; and the pending OIDC sign-ins."""

    def __init__(self, eph: Ephemeral, clock: Clock, config: ConsoleConfig) -> None:
        self._eph, self._clock, self._config = eph, clock, config

    @staticmethod
    def _key(token: str) -> str:
        return f"console:session:{token_hash(token)}"

    async def start(self, actor: str, name: str, role: str) -> str:
        """A new session; its cookie token."""
        token, now = new_token(), self._clock.time()
        s = ConsoleSession(actor=actor, name=name[:100], role=role, csrf=new_token(),
                           started=now, seen=now)
        await self._eph.put(self._key(token), asdict(s), self._config.idle_timeout)
        return token

    async def load(self, token: str | None) -> ConsoleSession | None:
        """The live session of a cookie token (its idle time restarts), or None."""
        if not token or len(token) > 100:
            return None
        record = await self._eph.get(self._key(token))
        if record is None:
            return None
        s = ConsoleSession(**record)
        now = self._clock.time()
        if now - s.seen > self._config.idle_timeout or now - s.started > self._config.max_age:
            await self._eph.delete(self._key(token))
            return None
        record["seen"] = now
        await self._eph.put(self._key(token), record, self._config.idle_timeout)
        return s

    async def end(self, token: str | None) -> None:
        """Sign out."""
        if token:
            await self._eph.delete(self._key(token))

    async def pend(self, state: str, data: dict[str, Any]) -> None:
        """Keep an OIDC sign-in's verifier and nonce under its state."""
        await self._eph.put(f"console:pending:{token_hash(state)}", data, PENDING_TTL)

    async def take_pending(self, state: str) -> dict[str, Any] | None:
        """The pending sign-in of a state, once (a replayed callback finds nothing)."""
        return await self._eph.take(f"console:pending:{token_hash(state)}")
