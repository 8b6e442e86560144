"""Test hosts of the run's own: one network namespace per part (Redis, Postgres, the gateway,
each service), each with its own address on one bridge, and the faults a network has, put on
and taken off per part with iptables inside that part's namespace.

    hub namespace:  bridge br0 ── veth ── every part's namespace (eth0, 198.19.X.N/24)
                               └─ veth ── the host (198.19.X.1/24), which drives the load

The bridge lives in a namespace of its own and no namespace has a default route, so no packet
can leave this set of namespaces and the host. The addresses are in 198.18.0.0/15 (RFC 2544,
set aside for testing network devices); each run takes a /24 no other run on the machine
uses (chosen under a lock). Names carry the test process's pid: what a killed run left behind
is removed by the next run, its processes ended by their pids (`ip netns pids`).

Faults (all silent: packets dropped, never a reset or an ICMP error):
- `cut(part, peer)`: both directions between part and peer;
- `cut_replies(part, peer)`: part's packets to peer dropped (peer's requests arrive and run,
  their answers never come back);
- `loss(part, percent)`: that share of part's outgoing packets, at random;
- `delay(part, ms)`: every outgoing packet of part held that long (NFQUEUE and
  tests/support/nfqueue_delay.py: this kernel has no `tc netem`).
`heal(part)` takes a part's faults off."""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import re
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent.parent
NET = "198.19"
LOCK = Path("/run/lock/mfa-netns.lock")
_NAME = re.compile(r"^mfa-(\d+)-")


def _ip(*args: str) -> str:
    return subprocess.run(["ip", *args], check=True, capture_output=True, text=True).stdout


def missing_capability() -> str | None:
    """Why namespaces cannot be made here (None when they can)."""
    for tool in ("ip", "iptables"):
        if subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True).returncode:
            return f"{tool} is not installed (scripts/ensure-netfaults)"
    probe = f"mfa-{os.getpid()}-probe"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode:
        return f"cannot create a network namespace (CAP_NET_ADMIN?): {made.stderr.strip()}"
    try:
        rule = subprocess.run(["ip", "netns", "exec", probe, "iptables", "-A", "OUTPUT", "-j",
                               "NFQUEUE", "--queue-num", "0", "--queue-bypass"],
                              capture_output=True, text=True)
        if rule.returncode:
            return f"iptables cannot queue packets: {rule.stderr.strip()}"
    finally:
        subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_leftovers() -> None:
    """Namespaces of runs whose process is gone: their processes ended, the namespaces
    removed (which removes their links, and so the host's end too)."""
    for line in _ip("netns", "list").splitlines():
        name = line.split()[0] if line.strip() else ""
        m = _NAME.match(name)
        if m is None or _alive(int(m.group(1))):
            continue
        for pid in subprocess.run(["ip", "netns", "pids", name], capture_output=True,
                                  text=True).stdout.split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), 9)
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


class Network:
    """The run's namespaces; `parts` are their short names (letters, at most 9)."""

    def __init__(self, parts: list[str]) -> None:
        self.tag = f"mfa-{os.getpid()}"
        self.parts = parts
        self.subnet = -1
        self.addr: dict[str, str] = {}
        self.host_addr = ""
        self._procs: list[subprocess.Popen[bytes]] = []
        self._delays: dict[str, subprocess.Popen[bytes]] = {}
        self._host_link = f"m{os.getpid():x}h"[:15]

    def ns(self, part: str) -> str:
        """The namespace's name."""
        return f"{self.tag}-{part}"

    def up(self) -> None:
        """Make the hub, every part's namespace and the host's link."""
        remove_leftovers()
        LOCK.parent.mkdir(parents=True, exist_ok=True)
        with LOCK.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            taken = set(re.findall(rf"inet {re.escape(NET)}\.(\d+)\.", _ip("-4", "addr")))
            free = [n for n in range(256) if str(n) not in taken]
            self.subnet = random.choice(free)
            base = f"{NET}.{self.subnet}"
            self.host_addr = f"{base}.1"
            hub = self.ns("hub")
            _ip("netns", "add", hub)
            _ip("-n", hub, "link", "add", "br0", "type", "bridge")
            _ip("-n", hub, "link", "set", "br0", "up")
            _ip("link", "add", self._host_link, "type", "veth", "peer", "name", "hostp",
                "netns", hub)
            _ip("addr", "add", f"{self.host_addr}/24", "dev", self._host_link)
            _ip("link", "set", self._host_link, "up")
            _ip("-n", hub, "link", "set", "hostp", "master", "br0", "up")
        for i, part in enumerate(self.parts):
            ns, peer = self.ns(part), f"p{i}"
            self.addr[part] = f"{base}.{i + 2}"
            _ip("netns", "add", ns)
            _ip("link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", peer,
                "netns", hub)
            _ip("-n", ns, "addr", "add", f"{self.addr[part]}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", hub, "link", "set", peer, "master", "br0", "up")

    def down(self) -> None:
        """End every process started here (by pid), then remove the namespaces."""
        for p in [*self._delays.values(), *self._procs]:
            if p.poll() is None:
                p.terminate()
        deadline = time.monotonic() + 10
        for p in [*self._delays.values(), *self._procs]:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for part in [*self.parts, "hub"]:
            subprocess.run(["ip", "netns", "del", self.ns(part)], capture_output=True)
        subprocess.run(["ip", "link", "del", self._host_link], capture_output=True)

    def spawn(self, part: str, argv: list[str], *, env: Mapping[str, str] | None = None,
              log: IO[bytes] | None = None, user: str | None = None) -> subprocess.Popen[bytes]:
        """Start a process inside the part's namespace (as `user` when given)."""
        prefix = ["ip", "netns", "exec", self.ns(part)]
        if user:
            prefix += ["runuser", "-u", user, "--"]
        p = subprocess.Popen([*prefix, *argv], env=dict(env) if env is not None else None,
                             cwd=ROOT, stdout=log or subprocess.DEVNULL,
                             stderr=log or subprocess.DEVNULL, start_new_session=True)
        self._procs.append(p)
        return p

    def _iptables(self, part: str, *rule: str) -> None:
        subprocess.run(["ip", "netns", "exec", self.ns(part), "iptables", *rule], check=True,
                       capture_output=True)

    def cut(self, part: str, peer: str) -> None:
        """Drop every packet between part and peer, both ways (no reset, no ICMP)."""
        self._iptables(part, "-A", "OUTPUT", "-d", self.addr[peer], "-j", "DROP")
        self._iptables(part, "-A", "INPUT", "-s", self.addr[peer], "-j", "DROP")

    def cut_replies(self, part: str, peer: str) -> None:
        """Drop part's packets to peer only: one way."""
        self._iptables(part, "-A", "OUTPUT", "-d", self.addr[peer], "-j", "DROP")

    def loss(self, part: str, percent: int) -> None:
        """Drop that share of part's outgoing packets at random."""
        self._iptables(part, "-A", "OUTPUT", "-o", "eth0", "-m", "statistic", "--mode",
                       "random", "--probability", f"{percent / 100:.2f}", "-j", "DROP")

    def delay(self, part: str, ms: int) -> None:
        """Hold each of part's outgoing packets `ms` before it leaves."""
        proc = subprocess.Popen(["ip", "netns", "exec", self.ns(part), sys.executable, "-m",
                                 "tests.support.nfqueue_delay", "0", str(ms)], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if line.strip() != b"ready":
            proc.kill()
            raise RuntimeError(f"nfqueue_delay did not start: {proc.stderr.read()!r}")
        self._delays[part] = proc
        self._iptables(part, "-A", "OUTPUT", "-o", "eth0", "-j", "NFQUEUE", "--queue-num", "0",
                       "--queue-bypass")

    def heal(self, part: str) -> None:
        """Take every fault of the part off."""
        self._iptables(part, "-F")
        proc = self._delays.pop(part, None)
        if proc is not None:
            proc.terminate()
            proc.wait(10)
