"""The load generator, run as its own process (python -m bench.load < spec.json).

Each of `concurrency` workers keeps one keep-alive connection busy until the time is up. Kinds:
- "post": the same JSON POST again and again (ceilings);
- "verify": POST /user/mfa/verify with the next pre-started mfaToken and the current code;
- "login": the host's session start (internal API) then that verify, timed as one login.
Prints one JSON line: ok, errors, seconds, p50/p99 in ms, items used, the first error seen.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import deque
from typing import Any

import aiohttp
import pyotp

VERIFY = "/frontegg/identity/resources/auth/v1/user/mfa/verify"
START = "/internal/v1/mfa/sessions"


class Load:
    """State shared by the workers of one measurement."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.items: deque[Any] = deque(spec.get("items", []))
        self.totp = pyotp.TOTP(spec["seed"]) if spec.get("seed") else None
        self.latencies: list[float] = []
        self.errors = 0
        self.used = 0
        self.done = 0
        self.first_error = ""
        self.measure_from = 0.0
        self.until = 0.0

    def code(self) -> str:
        """The current code of the shared seed (the servers use the wall clock too)."""
        assert self.totp is not None
        return self.totp.at(time.time())

    async def _check(self, r: aiohttp.ClientResponse) -> dict[str, Any] | None:
        data = await r.json(content_type=None)
        if r.status == 200:
            return dict(data)
        if not self.first_error:
            self.first_error = f"{r.status} {json.dumps(data)[:200]}"
        return None

    async def one(self, http: aiohttp.ClientSession) -> bool | None:
        """One unit of work; None when the pool of pre-made items is used up."""
        base, kind = self.spec["base"], self.spec["kind"]
        if kind == "post":
            async with http.post(base + self.spec["path"], json=self.spec["body"]) as r:
                return await self._check(r) is not None
        if not self.items:
            return None
        item = self.items.popleft()
        self.used += 1
        token = item
        if kind == "login":
            async with http.post(base + START, json=item, headers={
                    "Authorization": f"Bearer {self.spec['internal_key']}"}) as r:
                started = await self._check(r)
            if started is None:
                return False
            token = started["mfaToken"]
        path = self.spec.get("verify_path", VERIFY)
        async with http.post(base + path, json={"mfaToken": token, "value": self.code()}) as r:
            return await self._check(r) is not None

    async def worker(self, http: aiohttp.ClientSession) -> None:
        """Loop until the time is up; record what started inside the measured window."""
        while (t0 := time.perf_counter()) < self.until:
            ok = await self.one(http)
            if ok is None:
                return
            t1 = time.perf_counter()
            self.done += 1
            if t0 >= self.measure_from and t1 <= self.until:
                if ok:
                    self.latencies.append(t1 - t0)
                else:
                    self.errors += 1

    async def run(self) -> dict[str, Any]:
        """Warm up, measure, summarise."""
        conc = int(self.spec["concurrency"])
        connector = aiohttp.TCPConnector(limit=conc, force_close=False)
        async with aiohttp.ClientSession(connector=connector) as http:
            start = time.perf_counter()
            self.measure_from = start + float(self.spec.get("warmup", 0.5))
            self.until = self.measure_from + float(self.spec["duration"])
            await asyncio.gather(*(self.worker(http) for _ in range(conc)))
            ended = min(time.perf_counter(), self.until)
        lat = sorted(self.latencies)
        seconds = max(1e-9, ended - self.measure_from)

        def pct(p: float) -> float:
            return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 2) if lat else 0.0

        return {"ok": len(lat), "errors": self.errors, "seconds": round(seconds, 2),
                "rps": round(len(lat) / seconds, 1), "p50": pct(0.50), "p99": pct(0.99),
                "used": self.used, "done": self.done, "first_error": self.first_error}


def main() -> None:
    """Read the spec from stdin, run, print the result line."""
    import uvloop

    spec = json.loads(sys.stdin.read())
    print(json.dumps(uvloop.run(Load(spec).run())), flush=True)


if __name__ == "__main__":
    main()
