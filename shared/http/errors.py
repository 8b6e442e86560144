"""One exception family; the error middleware turns it into Frontegg's envelope."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import redis.exceptions


class MfaError(Exception):
    """Base of every error the API answers with; carries status and Frontegg error code."""

    status = 400
    code = "ER-MFA-400"
    default_message = "Bad request"

    def __init__(self, message: str | None = None, *, code: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message or self.default_message)
        self.message = message or self.default_message
        if code:
            self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """The JSON envelope Frontegg's client parses."""
        return {"errors": [self.message], "errorCode": self.code}


class BadRequest(MfaError):
    """Malformed or invalid input (400)."""


class Unauthorized(MfaError):
    """Missing or invalid credential (401)."""

    status = 401
    code = "ER-MFA-401"
    default_message = "Unauthorized"


class Forbidden(MfaError):
    """Authenticated but not allowed (403)."""

    status = 403
    code = "ER-MFA-403"
    default_message = "Forbidden"


class NotFound(MfaError):
    """Unknown resource or route (404)."""

    status = 404
    code = "ER-MFA-404"
    default_message = "Not found"


class Conflict(MfaError):
    """The state does not allow this (409)."""

    status = 409
    code = "ER-MFA-409"
    default_message = "Conflict"


class PayloadTooLarge(MfaError):
    """The body is over the limit (413); Frontegg's client shows its own fixed message."""

    status = 413
    code = "ER-MFA-413"
    default_message = "Error request is too large"


class TooManyRequests(MfaError):
    """A rate limit or lockout refused the request (429)."""

    status = 429
    code = "ER-MFA-429"
    default_message = "Too many requests, try again later"

    def __init__(self, message: str | None = None, *, retry_after: int = 0,
                 code: str | None = None) -> None:
        headers = {"Retry-After": str(max(1, int(retry_after)))} if retry_after else {}
        super().__init__(message, code=code, headers=headers)
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        """Envelope plus the retry hint in seconds."""
        body = super().body()
        if self.retry_after:
            body["context"] = {"retryAfter": int(self.retry_after)}
        return body


class BadGateway(MfaError):
    """An upstream or provider failed (502)."""

    status = 502
    code = "ER-MFA-502"
    default_message = "Upstream service failed"


class Unavailable(MfaError):
    """A store or upstream is down (503)."""

    status = 503
    code = "ER-MFA-503"
    default_message = "Service temporarily unavailable"


class GatewayTimeout(MfaError):
    """An upstream did not answer in time (504)."""

    status = 504
    code = "ER-MFA-504"
    default_message = "Upstream service timed out"


# Faults of Redis or Postgres (or SQLite) that mean "store down", answered with 503.
STORE_FAULTS: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.BusyLoadingError,
    # maxmemory reached under `noeviction` (the deployment's policy, deploy/README.md): writes
    # are refused until keys expire; reads and consuming (deleting) still work.
    redis.exceptions.OutOfMemoryError,
    # Redis Cluster and Sentinel: no node for a slot (or none reachable), a cluster that is
    # down or resharding, a master demoted by a failover that still answers READONLY.
    redis.exceptions.ClusterError,
    redis.exceptions.RedisClusterException,
    redis.exceptions.TryAgainError,
    redis.exceptions.ReadOnlyError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.ConnectionFailureError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.AdminShutdownError,
    ConnectionError,
    OSError,
    asyncio.TimeoutError,
)
