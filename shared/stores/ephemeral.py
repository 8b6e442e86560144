"""Short-lived state: Redis in production, process memory in embedded mode.

Every record is a JSON object plus an attempt counter, with a TTL. The operations that
decide one-time use (`take`, `bump`, `put_new`) are atomic in both implementations.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any, Protocol

from redis.exceptions import NoScriptError

from shared.clock import Clock
from shared.stores.redis_client import parse_redis_url, redis_client

_log = logging.getLogger(__name__)

Record = dict[str, Any]
# Seconds before a settle that failed (RedisEphemeral.settle_later) is tried once more.
SETTLE_RETRY_S = 1.0


@dataclass(frozen=True)
class Limits:
    """What `reserve` enforces: failures an mfaToken survives, and the factor's lockout
    (a growing delay from `delay_after` consecutive attempts, a lock at `lock_at`). The
    lockout record expires `ttl` seconds after the last attempt counted or refused on it
    (MFA_LOCKOUT_TTL), so an abandoned count never stays in Redis for good."""

    session_max: int
    delay_after: int
    lock_at: int
    max_delay: float = 900.0
    ttl: float = 7 * 86400.0

    def delay(self, n: int) -> float:
        """Seconds of delay after the n-th consecutive attempt (0: none): 1, 2, 4, ... s."""
        if n < self.delay_after:
            return 0.0
        return min(self.max_delay, 2.0 ** (n - self.delay_after))


@dataclass(frozen=True)
class Reservation:
    """The answer of `reserve`: status ok | gone (no live session, or burned: `burned` says
    which) | delayed | locked; with ok, the session record and the counts including this
    attempt; refused, the session record when there is one (burned, delayed, locked: whose
    attempt was refused, for the audit trail)."""

    status: str
    session: Record | None = None
    failures: int = 0
    session_failures: int = 0
    retry_after: float = 0.0
    burned: bool = False  # gone because the session used up its attempts


class Ephemeral(Protocol):
    """Short-lived keyed records with TTLs."""

    async def put(self, key: str, value: Record, ttl: float) -> None:
        """Store (or replace) a record, counter reset to 0."""

    async def put_new(self, key: str, value: Record, ttl: float) -> bool:
        """Store only if absent; True when stored."""

    async def get(self, key: str) -> Record | None:
        """The record, or None when absent or expired."""

    async def take(self, key: str) -> Record | None:
        """Atomically read and delete: exactly one caller gets the record."""

    async def delete(self, key: str, *more: str) -> bool:
        """Delete one or more keys (one round trip); True when something was deleted."""

    async def bump(self, key: str) -> tuple[Record, int] | None:
        """Atomically add one to the record's counter; the record and the new count."""

    async def incr(self, key: str, ttl: float) -> int:
        """A plain counter whose TTL starts with its first increment."""

    async def ttl(self, key: str) -> float:
        """Seconds left for a key (0 when absent)."""

    async def reserve(self, lock_key: str, session_key: str | None, limits: Limits, *,
                      now: float, count: bool = True) -> Reservation:
        """One atomic step before a proof is compared: load the session record (when given)
        and the lockout state; refuse, or (with `count`) count the attempt on both."""

    async def lock(self, lock_key: str, ttl: float) -> None:
        """Lock a factor now (a tenant's lockout policy is stricter than the deployment's);
        the record expires `ttl` seconds from now."""

    async def settle(self, lock_key: str, session_key: str | None) -> bool:
        """After a proof held: consume the session (one winner; False for the others) and
        reset the lockout count, atomically."""

    def settle_later(self, lock_key: str, session_key: str) -> None:
        """After a login's answer, whose single use Postgres decided (shared.events.audit
        TokenUse): delete the session and reset the lockout count, without the caller
        waiting. A fault is retried, then logged; see RedisEphemeral.settle_later."""

    async def ping(self) -> None:
        """Raise when the store does not answer."""

    async def close(self) -> None:
        """Release connections."""


class MemoryEphemeral:
    """In-process store for embedded mode (single event loop, so each call is atomic)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._data: dict[str, tuple[Record, int, float]] = {}
        self._ops = 0

    def _live(self, key: str) -> tuple[Record, int, float] | None:
        self._ops += 1
        if self._ops % 1024 == 0:
            self._purge()
        item = self._data.get(key)
        if item is None:
            return None
        if item[2] <= self._clock.time():
            del self._data[key]
            return None
        return item

    def _purge(self) -> None:
        now = self._clock.time()
        for k in [k for k, v in self._data.items() if v[2] <= now]:
            del self._data[k]

    async def put(self, key: str, value: Record, ttl: float) -> None:
        """Store a record."""
        self._data[key] = (json.loads(json.dumps(value)), 0, self._clock.time() + ttl)

    async def put_new(self, key: str, value: Record, ttl: float) -> bool:
        """Store if absent."""
        if self._live(key) is not None:
            return False
        await self.put(key, value, ttl)
        return True

    async def get(self, key: str) -> Record | None:
        """Read a record."""
        item = self._live(key)
        return None if item is None else json.loads(json.dumps(item[0]))

    async def take(self, key: str) -> Record | None:
        """Read and delete."""
        item = self._live(key)
        if item is None:
            return None
        del self._data[key]
        return item[0]

    async def delete(self, key: str, *more: str) -> bool:
        """Delete keys."""
        found = False
        for k in (key, *more):
            found = (self._live(k) is not None and self._data.pop(k, None) is not None) or found
        return found

    async def bump(self, key: str) -> tuple[Record, int] | None:
        """Increment the record's counter."""
        item = self._live(key)
        if item is None:
            return None
        value, count, expires = item
        self._data[key] = (value, count + 1, expires)
        return json.loads(json.dumps(value)), count + 1

    async def incr(self, key: str, ttl: float) -> int:
        """Increment a counter."""
        item = self._live(key)
        if item is None:
            self._data[key] = ({}, 1, self._clock.time() + ttl)
            return 1
        self._data[key] = (item[0], item[1] + 1, item[2])
        return item[1] + 1

    async def ttl(self, key: str) -> float:
        """Seconds left."""
        item = self._live(key)
        return 0.0 if item is None else max(0.0, item[2] - self._clock.time())

    async def reserve(self, lock_key: str, session_key: str | None, limits: Limits, *,
                      now: float, count: bool = True) -> Reservation:
        """Load, check and count in one step (no await inside: atomic on the event loop)."""
        sess = self._live(session_key) if session_key else None
        record = json.loads(json.dumps(sess[0])) if sess else None
        if session_key and (sess is None or sess[1] >= limits.session_max
                            or sess[0].get("expires_at", 0) <= now):
            burned = sess is not None and sess[1] >= limits.session_max
            return Reservation("gone", record if burned else None, burned=burned)
        lock = self._live(lock_key)
        state, n = (lock[0], lock[1]) if lock else ({}, 0)
        expires = self._clock.time() + limits.ttl
        refused = None
        if state.get("locked"):
            refused = Reservation("locked", record, failures=n)
        elif state.get("until", 0) > now:
            refused = Reservation("delayed", record, failures=n, retry_after=state["until"] - now)
        if refused is not None:
            if count and lock is not None:
                self._data[lock_key] = (lock[0], lock[1], expires)
            return refused
        if not count:
            return Reservation("ok", record, n, sess[1] if sess else 0)
        n += 1
        if n >= limits.lock_at:
            state = {"locked": True}
        elif limits.delay(n):
            state = {"until": now + limits.delay(n)}
        self._data[lock_key] = (state, n, expires)  # consecutive: until a success or the TTL
        sn = 0
        if session_key and sess:
            sn = sess[1] + 1
            self._data[session_key] = (sess[0], sn, sess[2])
        return Reservation("ok", record, n, sn)

    async def lock(self, lock_key: str, ttl: float) -> None:
        """Set the lock, keeping the count."""
        item = self._live(lock_key)
        self._data[lock_key] = ({"locked": True}, item[1] if item else 0,
                                self._clock.time() + ttl)

    async def settle(self, lock_key: str, session_key: str | None) -> bool:
        """Consume the session (if it is still there) and reset the lockout."""
        if session_key:
            if self._live(session_key) is None:
                return False
            del self._data[session_key]
        self._data.pop(lock_key, None)
        return True

    def settle_later(self, lock_key: str, session_key: str) -> None:
        """In process memory there is no round trip to save: done at once."""
        self._data.pop(session_key, None)
        self._data.pop(lock_key, None)

    async def ping(self) -> None:
        """Always answers."""

    async def close(self) -> None:
        """Nothing to release."""


# Each operation is one Lua script: atomic in Redis, and one EVALSHA round trip costs the
# client about a third of the CPU of a MULTI/EXEC pipeline (measured: 120 vs 330 us).
# A record has only the fields v and n, so HSET replaces it whole. Its first command is the
# one that grows memory: Redis checks maxmemory (`noeviction`: refuse with OOM) at the first
# write of a script only, and a DEL first let every put through a full Redis.
_PUT = """
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'n', 0)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""
_TAKE = """
local v = redis.call('HGET', KEYS[1], 'v')
if v then redis.call('DEL', KEYS[1]) end
return v
"""
_INCR = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
"""
_PUT_NEW = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'n', 0)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""
_BUMP = """
if redis.call('EXISTS', KEYS[1]) == 0 then return nil end
local n = redis.call('HINCRBY', KEYS[1], 'n', 1)
return {redis.call('HGET', KEYS[1], 'v'), n}
"""


# The attempt reservation (see Ephemeral.reserve). KEYS[1]: the lockout hash {n, until,
# locked}; KEYS[2] (optional): the session hash {v, n}. Both carry the same hash tag (the
# user's), so on Redis Cluster the script runs in one slot. Times in ms from the caller's
# clock. Consecutive failures count until a success; the lockout hash expires ARGV[7] ms after
# the last attempt counted or refused on it (Limits.ttl), so no lockout record lives forever.
_RESERVE = """
local now = tonumber(ARGV[1])
local v, sn = false, 0
if KEYS[2] then
  local rec = redis.call('HMGET', KEYS[2], 'v', 'n')
  if not rec[1] then return {'gone'} end
  sn = tonumber(rec[2])
  if sn >= tonumber(ARGV[2]) then return {'gone', rec[1], 0, 0, '0', 'burned'} end
  local ok, exp = pcall(function() return cjson.decode(rec[1]).expires_at end)
  if not ok or not exp or exp * 1000 <= now then return {'gone'} end
  v = rec[1]
end
local st = redis.call('HMGET', KEYS[1], 'n', 'until', 'locked')
local n = tonumber(st[1]) or 0
local counting = ARGV[6] == '1'
if st[3] == '1' then
  if counting then redis.call('PEXPIRE', KEYS[1], ARGV[7]) end
  return {'locked', v or '', n}
end
if st[2] and now < tonumber(st[2]) then
  if counting then redis.call('PEXPIRE', KEYS[1], ARGV[7]) end
  return {'delayed', v or '', n, 0, tostring(tonumber(st[2]) - now)}
end
if not counting then return {'ok', v or '', n, sn} end
n = redis.call('HINCRBY', KEYS[1], 'n', 1)
if n >= tonumber(ARGV[4]) then
  redis.call('HSET', KEYS[1], 'locked', '1')
elseif n >= tonumber(ARGV[3]) then
  local d = math.min(tonumber(ARGV[5]), 1000 * 2 ^ (n - tonumber(ARGV[3])))
  redis.call('HSET', KEYS[1], 'until', string.format('%.0f', now + d))
end
redis.call('PEXPIRE', KEYS[1], ARGV[7])
if KEYS[2] then sn = redis.call('HINCRBY', KEYS[2], 'n', 1) end
return {'ok', v or '', n, sn}
"""
_LOCK = """
redis.call('HSET', KEYS[1], 'locked', '1')
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
"""
_SETTLE = """
if KEYS[2] and redis.call('DEL', KEYS[2]) == 0 then return 0 end
redis.call('DEL', KEYS[1])
return 1
"""


class RedisEphemeral:
    """Redis implementation: a hash {v: json, n: counter} per record."""

    def __init__(self, url: str, *, prefix: str = "mfa:") -> None:
        # from_url retries nothing by default, so after a Redis restart every pooled (now
        # stale) connection failed its next command with a 503. One retry on a connection
        # error, after a short backoff, reconnects that connection and runs the command again.
        # Safe for the scripts too: a retry after the script ran (the reply was lost) runs it
        # again, and a second `take` finds the key deleted and returns nothing, so a code or
        # mfaToken is never consumed twice; the cost is that one legitimate use is reported as
        # expired (the user asks for a new code), and a retried bump/incr counts an attempt or
        # a send twice: always the cautious side. Timeouts are not retried (the script is
        # probably still running; a retry would only double the wait).
        from redis.asyncio.retry import Retry
        from redis.backoff import ExponentialWithJitterBackoff
        from redis.exceptions import ConnectionError as RedisConnectionError

        if "{" in prefix or "}" in prefix:
            # The prefix comes first in every key: a brace in it would become the hash tag,
            # and every user's keys would land in one Redis Cluster slot.
            raise ValueError("MFA_REDIS_PREFIX must not contain { or }")
        target = parse_redis_url(url)
        self._r = redis_client(
            target, socket_timeout=2.0, socket_connect_timeout=2.0, health_check_interval=30,
            max_connections=200,
            retry=Retry(ExponentialWithJitterBackoff(base=0.01, cap=0.2), retries=1,
                        supported_errors=(RedisConnectionError,)),
        )
        self._wait = (target.wait_replicas, target.wait_timeout_ms)
        # A Redis Cluster client learns the slot map on its first command; first commands
        # sent concurrently while it does were seen to lose their connections after the
        # script ran, and the retry ran it again (an attempt counted twice). So every
        # caller waits for the map first (one lock inside initialize()).
        self._pending_init = target.mode == "cluster"
        self._p = prefix
        self._put = self._r.register_script(_PUT)
        self._take = self._r.register_script(_TAKE)
        self._incr = self._r.register_script(_INCR)
        self._put_new = self._r.register_script(_PUT_NEW)
        self._bump = self._r.register_script(_BUMP)
        self._reserve = self._r.register_script(_RESERVE)
        self._settle = self._r.register_script(_SETTLE)
        self._lock = self._r.register_script(_LOCK)
        self._to_settle: list[tuple[str, str]] = []
        self._settling: set[asyncio.Task[None]] = set()

    async def _client(self) -> Any:
        """The client, its cluster slot map loaded."""
        if self._pending_init:
            await self._r.initialize()
            self._pending_init = False
        return self._r

    async def _durable(self, script: Any, keys: list[str], args: list[Any] | None = None,
                       *, wait: bool = True) -> Any:
        """Run a script that consumes a one-time value or counts an attempt. With `wait`
        (Sentinel), WAIT for the replicas in the same round trip, so the write is on a replica
        before the caller acts on it: a failover cannot bring back a consumed mfaToken or code
        (Redis replication is asynchronous otherwise). A replica that does not acknowledge in
        time is logged (no key names) and the answer stands: refusing logins because a replica
        is down would make the replica a single point of failure."""
        replicas, timeout_ms = self._wait
        r = await self._client()
        if not replicas or not wait:
            return await script(keys=keys, args=args or [])
        for _ in range(2):
            pipe = r.pipeline(transaction=False)
            pipe.evalsha(script.sha, len(keys), *keys, *(args or []))
            pipe.execute_command("WAIT", replicas, timeout_ms)
            try:
                res, acked = await pipe.execute()
            except NoScriptError:
                await r.script_load(script.script)
                continue
            if int(acked) < replicas:
                _log.warning("redis WAIT: %s of %s replicas acknowledged", acked, replicas)
            return res
        raise NoScriptError("script could not be loaded")

    def _k(self, key: str) -> str:
        return self._p + key

    async def put(self, key: str, value: Record, ttl: float) -> None:
        """Store a record."""
        await self._durable(self._put, [self._k(key)], [json.dumps(value), int(ttl * 1000)],
                            wait=False)

    async def put_new(self, key: str, value: Record, ttl: float) -> bool:
        """Store if absent."""
        return bool(await self._durable(self._put_new, [self._k(key)],
                                        [json.dumps(value), int(ttl * 1000)]))

    async def get(self, key: str) -> Record | None:
        """Read a record."""
        raw = await (await self._client()).hget(self._k(key), "v")
        return None if raw is None else json.loads(raw)

    async def take(self, key: str) -> Record | None:
        """Read and delete in one script; only the caller that deleted it gets the value."""
        raw = await self._durable(self._take, [self._k(key)])
        return None if raw is None else json.loads(raw)

    async def delete(self, key: str, *more: str) -> bool:
        """Delete keys in one DEL."""
        r = await self._client()
        return bool(await r.delete(self._k(key), *(self._k(k) for k in more)))

    async def bump(self, key: str) -> tuple[Record, int] | None:
        """Increment the record's counter atomically."""
        res = await self._durable(self._bump, [self._k(key)])
        if res is None:
            return None
        return json.loads(res[0]), int(res[1])

    async def incr(self, key: str, ttl: float) -> int:
        """Increment a counter; the TTL is set by the first increment only."""
        return int(await self._durable(self._incr, [self._k(key)], [int(ttl * 1000)]))

    async def ttl(self, key: str) -> float:
        """Seconds left."""
        ms = await (await self._client()).pttl(self._k(key))
        return max(0.0, ms / 1000.0)

    async def reserve(self, lock_key: str, session_key: str | None, limits: Limits, *,
                      now: float, count: bool = True) -> Reservation:
        """One EVALSHA: load, check and count (see _RESERVE)."""
        keys = [self._k(lock_key)] + ([self._k(session_key)] if session_key else [])
        args = [int(now * 1000), limits.session_max, limits.delay_after, limits.lock_at,
                int(limits.max_delay * 1000), "1" if count else "0", int(limits.ttl * 1000)]
        res = await self._durable(self._reserve, keys, args, wait=count)
        status = res[0].decode() if isinstance(res[0], bytes) else str(res[0])
        if status != "ok":
            refused = json.loads(res[1]) if len(res) > 1 and res[1] else None
            return Reservation(status, refused,
                               failures=int(res[2]) if len(res) > 2 else 0,
                               retry_after=float(res[4]) / 1000 if len(res) > 4 else 0.0,
                               burned=len(res) > 5)
        record = json.loads(res[1]) if session_key else None
        return Reservation("ok", record, int(res[2]), int(res[3]))

    async def lock(self, lock_key: str, ttl: float) -> None:
        """Set the lock field of the lockout hash (the count stays) and its TTL."""
        await self._durable(self._lock, [self._k(lock_key)], [int(ttl * 1000)])

    async def settle(self, lock_key: str, session_key: str | None) -> bool:
        """One EVALSHA: consume the session (one winner) and reset the lockout."""
        keys = [self._k(lock_key)] + ([self._k(session_key)] if session_key else [])
        return bool(await self._durable(self._settle, keys))

    def settle_later(self, lock_key: str, session_key: str) -> None:
        """Queue the session's and the lockout's deletion. Every call made during one turn of
        the event loop goes to Redis in one pipeline, sent on the next turn, so concurrent
        logins share a round trip and none waits for it. The single use is not at stake here
        (Postgres decided it); on a Redis fault the batch is tried once more after
        SETTLE_RETRY_S, then dropped with a warning: until the session's TTL, a used mfaToken
        still opens the routes that prove nothing (send a code, show the QR code) and is
        refused by any proof, and the user's lockout count stays until their next success."""
        self._to_settle.append((self._k(lock_key), self._k(session_key)))
        if len(self._to_settle) == 1:  # the first of this turn: a task sends the batch
            task = asyncio.get_running_loop().create_task(self._settle_batch())
            self._settling.add(task)  # a strong reference until done (asyncio keeps weak ones)
            task.add_done_callback(self._settling.discard)

    async def _settle_batch(self) -> None:
        batch, self._to_settle = self._to_settle, []
        for attempt in range(2):
            try:
                pipe = (await self._client()).pipeline(transaction=False)
                for keys in batch:
                    pipe.delete(*keys)
                await pipe.execute()
                return
            except Exception as err:  # noqa: BLE001 - logged; Postgres already decided
                _log.warning("redis settle failed", extra={"fields": {
                    "error": err.__class__.__name__, "sessions": len(batch),
                    "retry": attempt == 0}})
            if attempt == 0:
                await asyncio.sleep(SETTLE_RETRY_S)

    async def ping(self) -> None:
        """Round trip to Redis."""
        await (await self._client()).ping()

    async def flush_prefix(self) -> None:
        """Delete every key under this store's prefix (tests)."""
        r = await self._client()
        async for k in r.scan_iter(match=self._p + "*", count=500):
            await r.delete(k)

    async def flush(self) -> None:
        """Wait for the settles queued so far (shutdown, benchmarks)."""
        if self._settling:
            await asyncio.gather(*self._settling)

    async def close(self) -> None:
        """Send the settles still queued, then close the connection pool."""
        await self.flush()
        await self._r.aclose()
