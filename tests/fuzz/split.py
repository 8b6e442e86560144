"""The API in split mode as an operator runs it: the gateway and each service as its own
`python -m` process on a free loopback port, on this run's Redis prefix and Postgres database,
sending email through a local SMTP server; each process's log kept for the test to read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.procs import ROOT, free_port
from shared.settings import SERVICES


@dataclass
class SplitProcesses:
    """Started processes (stopped by their own pids) and where their logs go."""

    env: dict[str, str]
    logs: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)

    def start(self, name: str, module: str, **extra: str) -> str:
        """`python -m <module>` on a free port; its base URL once /healthz answers."""
        port = free_port()
        env = {**self.env, "MFA_PORT": str(port), **extra}
        log = (self.logs / f"{name}.log").open("wb")
        self.procs[name] = subprocess.Popen(  # noqa: S603 - our own modules
            [sys.executable, "-m", module], env=env, cwd=ROOT, stdout=log,
            stderr=subprocess.STDOUT)
        url = self.urls[name] = f"http://127.0.0.1:{port}"
        self._wait(name, url)
        return url

    def _wait(self, name: str, url: str) -> None:
        # Start-up is bounded only to fail a broken process instead of hanging the suite.
        for _ in range(400):
            if self.procs[name].poll() is not None:
                raise RuntimeError(f"{name} exited: {self.log(name)[-2000:]}")
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=2) as r:  # noqa: S310
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{name} did not answer /healthz")

    def log(self, name: str) -> str:
        """What a process has written so far."""
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def loud_lines(self) -> list[str]:
        """Log lines at ERROR or above, and tracebacks, from every process."""
        out = []
        for name in self.procs:
            for line in self.log(name).splitlines():
                try:
                    record: Any = json.loads(line)
                except ValueError:
                    record = None
                level = record.get("level", "") if isinstance(record, dict) else ""
                if str(level).upper() in ("ERROR", "CRITICAL") or "Traceback" in line:
                    out.append(f"{name}: {line[:500]}")
        return out

    def stop(self) -> None:
        """SIGTERM each process this fixture started, then wait for it."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def run_split(env: dict[str, str], logs: Path) -> Iterator[SplitProcesses]:
    """Every service, then the gateway in front of them; stopped afterwards."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("MFA_")}
    procs = SplitProcesses({**base, "PYTHONPATH": str(ROOT), "MFA_HOST": "127.0.0.1", **env},
                           logs)
    try:
        upstreams = {f"MFA_{name.upper()}_URL": procs.start(name, f"services.{name}")
                     for name in SERVICES}
        procs.start("gateway", "gateway", **upstreams)
        yield procs
    finally:
        procs.stop()
