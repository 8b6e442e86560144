"""One place that turns MFA_REDIS_URL into a Redis client: a single server, a Redis Cluster or
a Sentinel-managed master; plain or TLS; with or without an ACL user and password.

    redis://[user:password@]host:port[/db]          one server
    rediss://...                                    the same over TLS
    redis+cluster://[user:password@]host:port,host:port[,...]        Redis Cluster (seed nodes)
    rediss+cluster://...                            the same over TLS (every node)
    redis+sentinel://[user:password@]host:port,host:port[,...]/service[/db]   Sentinel
    rediss+sentinel://...                           the same over TLS (sentinels and data nodes)
    unix://[user:password@]/path/to/redis.sock[?db=N]   one server on the same host, over its
                                                    Unix socket (redis-py's own form): no TCP
                                                    stack on either side, so each command
                                                    costs less CPU (docs/performance.md)

The user and password (percent-encoded) authenticate on the data nodes (Redis 6+ ACL; a
password alone is the `default` user). Query parameters, in every form:

- `ssl_ca_certs`, `ssl_certfile`, `ssl_keyfile` (paths), `ssl_cert_reqs` (`required` |
  `optional` | `none`), `ssl_check_hostname` (`true` | `false`): TLS, with the `rediss` schemes;
- `sentinel_username`, `sentinel_password`: the Sentinels' own credentials, when they have any;
- `wait` (replicas) and `wait_timeout` (ms, default 100): after every write that consumes a
  one-time value or counts an attempt, `WAIT` for that many replicas in the same round trip
  (a pipeline), so the write survives a failover to one of them. Sentinel: `wait=1` unless
  given. Cluster: not supported (WAIT goes to one node, not the key's), refused.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import RedisSSLContext
from redis.asyncio.sentinel import Sentinel
from redis.exceptions import ClusterDownError, ConnectionError, SlotNotCoveredError

_SCHEMES = {
    "redis": ("single", False), "rediss": ("single", True),
    "redis+cluster": ("cluster", False), "rediss+cluster": ("cluster", True),
    "redis+sentinel": ("sentinel", False), "rediss+sentinel": ("sentinel", True),
    "unix": ("unix", False),
}
_TLS_PARAMS = ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_cert_reqs",
               "ssl_check_hostname")
_OTHER_PARAMS = ("sentinel_username", "sentinel_password", "wait", "wait_timeout", "db")
_DEFAULT_PORT = {"single": 6379, "cluster": 6379, "sentinel": 26379}


@dataclass(frozen=True)
class RedisTarget:
    """A parsed MFA_REDIS_URL."""

    mode: str  # single | cluster | sentinel | unix
    tls: bool
    nodes: tuple[tuple[str, int], ...]  # empty for unix
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    db: int = 0
    service: str = ""
    sentinel_username: str | None = None
    sentinel_password: str | None = field(default=None, repr=False)
    ssl: dict[str, Any] = field(default_factory=dict)
    wait_replicas: int = 0
    wait_timeout_ms: int = 100
    socket_path: str = ""  # unix only

    def describe(self) -> str:
        """The target without credentials (for logs and errors)."""
        if self.mode == "unix":
            return f"unix://{self.socket_path}?db={self.db}"
        hosts = ",".join(f"{h}:{p}" for h, p in self.nodes)
        scheme = next(k for k, v in _SCHEMES.items() if v == (self.mode, self.tls))
        tail = f"/{self.service}" if self.service else ""
        return f"{scheme}://{hosts}{tail}/{self.db}"


# A password with an unencoded /, # or ? cuts the URL early: what follows lands in the host,
# path or query. An error names the kind and position of a problem, never the text found there.
_ENCODE = " (percent-encode /, # and ? in a password)"


def _bad(msg: str) -> ValueError:
    return ValueError(f"MFA_REDIS_URL: {msg}")


def _nodes(netloc: str, mode: str) -> tuple[tuple[str, int], ...]:
    hosts = netloc.rpartition("@")[2]
    out = []
    for n, item in enumerate(hosts.split(","), 1):
        item = item.strip()
        if not item:
            continue
        if item.startswith("["):  # [IPv6]:port
            host, _, rest = item[1:].partition("]")
            port_s = rest.lstrip(":")
        else:
            host, _, port_s = item.rpartition(":") if ":" in item else (item, "", "")
        try:
            port = int(port_s) if port_s else _DEFAULT_PORT[mode]
        except ValueError:
            raise _bad(f"bad port in host {n}{_ENCODE}") from None
        if not host or not 0 < port < 65536:
            raise _bad(f"bad host:port in host {n}{_ENCODE}")
        out.append((host, port))
    if not out:
        raise _bad("no host")
    if mode == "single" and len(out) > 1:
        raise _bad("several hosts need redis+cluster:// or redis+sentinel://")
    return tuple(out)


def _userinfo(netloc: str) -> tuple[str | None, str | None]:
    if "@" not in netloc:
        return None, None
    info = netloc.rpartition("@")[0]
    user, colon, password = info.partition(":")
    if not colon:  # redis://password@host is not a form redis-py knows either
        raise _bad("credentials are user:password@ (an empty user means `default`)")
    return unquote(user) or None, unquote(password) or None


def _ssl(params: dict[str, str], tls: bool) -> dict[str, Any]:
    given = {k: params[k] for k in _TLS_PARAMS if k in params}
    if given and not tls:
        raise _bad("ssl_* parameters need a rediss scheme")
    if not tls:
        return {}
    out: dict[str, Any] = {"ssl": True, **{k: v for k, v in given.items()
                                           if k in ("ssl_ca_certs", "ssl_certfile",
                                                    "ssl_keyfile")}}
    reqs = given.get("ssl_cert_reqs", "required")
    if reqs not in ("required", "optional", "none"):
        raise _bad("ssl_cert_reqs is required, optional or none")
    out["ssl_cert_reqs"] = reqs
    out["ssl_check_hostname"] = given.get("ssl_check_hostname", "true").lower() in (
        "1", "true", "yes", "on")
    return out


def _int(params: dict[str, str], name: str, default: int) -> int:
    try:
        value = int(params.get(name, default))
    except ValueError:
        raise _bad(f"{name} must be an integer") from None
    if value < 0:
        raise _bad(f"{name} must be >= 0")
    return value


def _path(path: str, mode: str) -> tuple[str, int]:
    parts = [p for p in path.split("/") if p]
    service = ""
    if mode == "sentinel":
        if not parts:
            raise _bad("redis+sentinel:// needs the service name: .../<service>[/db]")
        service = unquote(parts.pop(0))
    if len(parts) > 1:
        raise _bad(f"unexpected path: more than .../<db>{_ENCODE}")
    try:
        db = int(parts[0]) if parts else 0
    except ValueError:
        raise _bad("the database is a number") from None
    if mode == "cluster" and db:
        raise _bad("Redis Cluster has only database 0")
    return service, db


def parse_redis_url(url: str) -> RedisTarget:
    """Parse and check an MFA_REDIS_URL (ValueError naming the problem, never the password)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in _SCHEMES:
        raise _bad(f"scheme must be one of {', '.join(_SCHEMES)}")
    if parts.fragment:
        raise _bad(f"a # in the URL{_ENCODE}")
    mode, tls = _SCHEMES[parts.scheme]
    params = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    unknown = set(params) - set(_TLS_PARAMS) - set(_OTHER_PARAMS)
    if unknown:
        raise _bad(f"unknown parameters (known: {', '.join(_TLS_PARAMS + _OTHER_PARAMS)})"
                   f"{_ENCODE}")
    if "db" in params and mode != "unix":
        raise _bad("db is a parameter of unix:// only (elsewhere it is the path: .../<db>)")
    user, password = _userinfo(parts.netloc)
    if mode == "unix":
        if parts.netloc.rpartition("@")[2] or not parts.path.startswith("/"):
            raise _bad("unix:// takes the socket's absolute path: unix:///path/to/redis.sock")
        _ssl(params, tls=False)  # no TLS on a local socket: ssl_* refused
        return RedisTarget(mode=mode, tls=False, nodes=(), username=user, password=password,
                           db=_int(params, "db", 0), socket_path=unquote(parts.path),
                           wait_replicas=_int(params, "wait", 0),
                           wait_timeout_ms=_int(params, "wait_timeout", 100))
    service, db = _path(parts.path, mode)
    wait = _int(params, "wait", 1 if mode == "sentinel" else 0)
    if mode == "cluster" and wait:
        raise _bad("wait is not supported on Redis Cluster")
    return RedisTarget(
        mode=mode, tls=tls, nodes=_nodes(parts.netloc, mode), username=user,
        password=password, db=db, service=service,
        sentinel_username=params.get("sentinel_username") or None,
        sentinel_password=params.get("sentinel_password") or None,
        ssl=_ssl(params, tls), wait_replicas=wait,
        wait_timeout_ms=_int(params, "wait_timeout", 100))


_TLS_CONTEXTS: dict[tuple[Any, ...], ssl.SSLContext] = {}


def _shared_tls_context(self: RedisSSLContext) -> ssl.SSLContext:
    """redis-py builds an SSLContext for every connection, and ssl.create_default_context()
    reads the system CA bundle each time: 70-90 ms of CPU per new connection was measured
    here, so 50 parallel first requests timed out connecting. An SSLContext may be shared
    by any number of connections; one per distinct setting is built, then reused."""
    key = tuple(getattr(self, a, None) for a in (
        "keyfile", "certfile", "password", "cert_reqs", "ca_certs", "ca_data", "ca_path",
        "check_hostname", "min_version", "ciphers"))
    if key not in _TLS_CONTEXTS:
        _TLS_CONTEXTS[key] = _build_tls_context(self)
    self.context = _TLS_CONTEXTS[key]
    return self.context


_build_tls_context = RedisSSLContext.get
RedisSSLContext.get = _shared_tls_context  # type: ignore[method-assign]


class _Cluster(RedisCluster):
    """RedisCluster without its retry after a timeout: the command may have run (the reply
    was late), and running a counting or consuming script twice is what a single server's
    client is configured not to do either (shared.stores.ephemeral.RedisEphemeral)."""

    ERRORS_ALLOW_RETRY = (  # type: ignore[assignment]
        ConnectionError, ClusterDownError, SlotNotCoveredError)


def redis_client(target: RedisTarget, **options: Any) -> Any:
    """A redis.asyncio client for the target (Redis, RedisCluster, or a Sentinel's master);
    `options` (timeouts, retry, max_connections, ...) apply to every data-node connection."""
    auth: dict[str, Any] = {"username": target.username, "password": target.password}
    if target.mode == "cluster":
        return _Cluster(startup_nodes=[ClusterNode(h, p) for h, p in target.nodes],
                            **auth, **target.ssl, **options)
    if target.mode == "sentinel":
        sentinel_kwargs = {"username": target.sentinel_username,
                           "password": target.sentinel_password, **target.ssl,
                           **{k: v for k, v in options.items() if k.startswith("socket_")}}
        sentinel = Sentinel(list(target.nodes), sentinel_kwargs=sentinel_kwargs)
        return sentinel.master_for(target.service, db=target.db, **auth, **target.ssl,
                                   **options)
    if target.mode == "unix":
        return aioredis.Redis(unix_socket_path=target.socket_path, db=target.db, **auth,
                              **options)
    host, port = target.nodes[0]
    return aioredis.Redis(host=host, port=port, db=target.db, **auth, **target.ssl, **options)
