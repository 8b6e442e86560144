"""An injected clock: UTC, tz-aware, replaceable in tests."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Source of the current time."""

    def now(self) -> datetime:
        """Current UTC time, tz-aware."""
        ...

    def time(self) -> float:
        """Current time as Unix seconds."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """Current UTC time."""
        return datetime.now(UTC)

    def time(self) -> float:
        """Current Unix time."""
        return time.time()


class FrozenClock:
    """A clock that only moves when told to (tests)."""

    def __init__(self, start: float | None = None) -> None:
        self._t = time.time() if start is None else start

    def now(self) -> datetime:
        """The frozen time as a UTC datetime."""
        return datetime.fromtimestamp(self._t, UTC)

    def time(self) -> float:
        """The frozen time in Unix seconds."""
        return self._t

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self._t += seconds

    def set(self, t: float) -> None:
        """Jump to a given Unix time."""
        self._t = t
