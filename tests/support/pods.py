"""The rendered Kubernetes manifests run as podman containers, as a cluster would run them.

For each Deployment and the migration Job: one container (per replica) of the image with that
object's command and args, its environment resolved from its ConfigMap and a Secret the test
generates (a missing key that is not `optional` refuses the start, as Kubernetes' would), its
user, read-only root, dropped capabilities, no privilege escalation, emptyDir mounts (tmpfs of
the sizeLimit), memory and CPU limits; on a podman network where each part answers at its
Service's name (a network alias; podman's DNS resolves it to every replica). Probes are
polled as the manifests declare them; a stop runs the preStop hook, then SIGTERM, then SIGKILL
after terminationGracePeriodSeconds. Everything goes through scripts/podman.

The datastores, the SMTP relay and the SMS provider live outside the cluster, as in prod: on the
host, reached at the network's gateway address under names given with --add-host (HostSide)."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import re
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from shared.clock import FrozenClock
from tests.support.sms_gateway import Inbox
from tests.support.smtp_server import SmtpServer
from tests.support.tcp_proxy import TcpProxy

REPO = Path(__file__).resolve().parents[2]
PODMAN = str(REPO / "scripts" / "podman")
Obj = dict[str, Any]
T = TypeVar("T")
# Names the containers reach the host's services by (what a prod Secret/ConfigMap would name).
DB_HOST, CACHE_HOST = "db.internal", "cache.internal"
SMTP_HOST, SMS_HOST = "smtp.internal", "sms-gateway.internal"


def podman(*args: str, env: dict[str, str] | None = None, timeout: float = 120,
           check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run scripts/podman; its output; raises with podman's stderr when it fails."""
    done = subprocess.run([PODMAN, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args[:3])} ...: {done.stderr.strip()[-2000:]}")
    return done


def quantity(value: str | int, unit: float = 1.0) -> float:
    """A Kubernetes quantity ("64Mi", "500m", "1") as a number (bytes, cores)."""
    m = re.fullmatch(r"([0-9.]+)([a-zA-Z]*)", str(value))
    assert m, value
    factors = {"": 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 2**10, "Mi": 2**20,
               "Gi": 2**30}
    return float(m.group(1)) * factors[m.group(2)] / unit


@dataclass
class Part:
    """A Deployment's or Job's one container, with the Service that selects its pods."""

    workload: Obj
    service: str | None

    @property
    def name(self) -> str:
        """The workload's name."""
        return str(self.workload["metadata"]["name"])

    @property
    def kind(self) -> str:
        """Deployment or Job."""
        return str(self.workload["kind"])

    @property
    def pod(self) -> Obj:
        """The pod template's spec."""
        return dict(self.workload["spec"]["template"]["spec"])

    @property
    def container(self) -> Obj:
        """The pod's one container (the image runs one process per pod)."""
        spec = self.pod
        assert not spec.get("initContainers"), f"{self.name}: init containers are not run here"
        assert len(spec["containers"]) == 1, f"{self.name}: one container per pod expected"
        return dict(spec["containers"][0])

    def probe(self, kind: str) -> tuple[str, int, Obj] | None:
        """(path, port, the probe) of an httpGet probe (startupProbe, readinessProbe...)."""
        probe = self.container.get(kind)
        if probe is None:
            return None
        get = probe["httpGet"]
        port = get["port"]
        if isinstance(port, str):
            named = {p["name"]: p["containerPort"] for p in self.container.get("ports", [])}
            port = named[port]
        return str(get["path"]), int(port), probe

    @property
    def grace(self) -> float:
        """terminationGracePeriodSeconds (Kubernetes' default 30)."""
        return float(self.pod.get("terminationGracePeriodSeconds", 30))

    @property
    def pre_stop(self) -> list[str] | None:
        """The preStop exec command, if any."""
        hook = self.container.get("lifecycle", {}).get("preStop")
        if hook is None:
            return None
        assert "exec" in hook, f"{self.name}: only exec preStop hooks are run here"
        return list(hook["exec"]["command"])


def parts(objs: tuple[Obj, ...] | list[Obj]) -> list[Part]:
    """Every Deployment and Job of the rendered objects, each with its Service."""
    services = [o for o in objs if o["kind"] == "Service"]
    found = []
    for o in objs:
        if o["kind"] not in ("Deployment", "Job"):
            continue
        labels = o["spec"]["template"]["metadata"].get("labels", {})
        names = [s["metadata"]["name"] for s in services
                 if all(labels.get(k) == v for k, v in s["spec"].get("selector", {}).items())]
        assert len(names) <= 1, f"{o['metadata']['name']}: selected by {names}"
        found.append(Part(o, names[0] if names else None))
    return found


def resolve_env(part: Part, objs: tuple[Obj, ...] | list[Obj],
                secrets: dict[str, dict[str, str]]) -> dict[str, str]:
    """The container's environment: literal values, ConfigMap and Secret keys (envFrom too).
    A missing map, Secret or key that is not optional raises, as the kubelet refuses to start
    such a container (CreateContainerConfigError)."""
    maps = {o["metadata"]["name"]: dict(o.get("data", {})) for o in objs
            if o["kind"] == "ConfigMap"}
    sources = {"configMapKeyRef": maps, "secretKeyRef": secrets,
               "configMapRef": maps, "secretRef": secrets}
    env: dict[str, str] = {}
    c = part.container
    for src in c.get("envFrom", []):
        for kind in ("configMapRef", "secretRef"):
            if kind in src:
                found = sources[kind].get(src[kind]["name"])
                if found is None and not src[kind].get("optional"):
                    raise LookupError(f"{part.name}: {kind} {src[kind]['name']} does not exist")
                env.update({src.get("prefix", "") + k: v for k, v in (found or {}).items()})
    for var in c.get("env", []):
        if "value" in var:
            env[var["name"]] = str(var["value"])
            continue
        ref_from = var["valueFrom"]
        kind = next(k for k in ("configMapKeyRef", "secretKeyRef") if k in ref_from)
        ref = ref_from[kind]
        data = sources[kind].get(ref["name"])
        if data is None or ref["key"] not in data:
            if ref.get("optional"):
                continue
            raise LookupError(f"{part.name}: {var['name']} needs {kind} {ref['name']}/"
                              f"{ref['key']}, which does not exist")
        env[var["name"]] = data[ref["key"]]
    return env


def run_args(part: Part, *, image: str, name: str, network: str, env_names: list[str],
             hosts: dict[str, str]) -> list[str]:
    """`podman run` arguments for one replica of a part, as its manifest says. The
    environment's values are passed through podman's own environment (`--env NAME`), so no
    secret is on a command line."""
    pod, c = part.pod, part.container
    psc, csc = pod.get("securityContext", {}), c.get("securityContext", {})
    args = ["run", "--detach", "--name", name, "--network", network,
            "--label", f"mfa.deploy-check.part={part.name}"]
    if part.service:
        args += ["--network-alias", part.service]
    uid = csc.get("runAsUser", psc.get("runAsUser"))
    gid = csc.get("runAsGroup", psc.get("runAsGroup"))
    if csc.get("runAsNonRoot", psc.get("runAsNonRoot")):
        assert uid not in (None, 0), f"{part.name}: runAsNonRoot needs a numeric non-root user"
    if uid is not None:
        args += ["--user", f"{uid}:{gid}" if gid is not None else str(uid)]
    if psc.get("fsGroup") is not None:
        args += ["--group-add", str(psc["fsGroup"])]
    if csc.get("readOnlyRootFilesystem"):
        # podman would otherwise mount writable tmpfs on /tmp, /var/tmp and /run by itself.
        args += ["--read-only", "--read-only-tmpfs=false"]
    if csc.get("allowPrivilegeEscalation") is False:
        args += ["--security-opt", "no-new-privileges"]
    if csc.get("privileged"):
        args.append("--privileged")
    caps = csc.get("capabilities", {})
    args += [f"--cap-drop={cap.lower()}" for cap in caps.get("drop", [])]
    args += [f"--cap-add={cap.lower()}" for cap in caps.get("add", [])]
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for mount in c.get("volumeMounts", []):
        volume = volumes[mount["name"]]
        assert "emptyDir" in volume, f"{part.name}: only emptyDir volumes are run here"
        opts = ["type=tmpfs", f"destination={mount['mountPath']}", "tmpfs-mode=1777"]
        if "sizeLimit" in volume["emptyDir"]:
            opts.append(f"tmpfs-size={int(quantity(volume['emptyDir']['sizeLimit']))}")
        if mount.get("readOnly"):
            opts.append("ro=true")
        args += ["--mount", ",".join(opts)]
    limits = c.get("resources", {}).get("limits", {})
    if "memory" in limits:
        args += ["--memory", str(int(quantity(limits["memory"])))]
    if "cpu" in limits:
        args += ["--cpus", f"{quantity(limits['cpu']):g}"]
    for host, address in hosts.items():
        args += ["--add-host", f"{host}:{address}"]
    for env_name in env_names:
        args += ["--env", env_name]
    if "command" in c:  # Kubernetes' command replaces the image's entrypoint, and its CMD
        args += ["--entrypoint", json.dumps(c["command"])]
    args.append(image)
    args += [str(a) for a in c.get("args", [])]
    return args


class WallClock(FrozenClock):
    """The containers' clock (the real one) for the test-side stores and code helpers; a test
    may only move it ahead (a TOTP flow steps past its enrollment's code, within the window)."""

    def __init__(self) -> None:
        super().__init__()
        self._offset = 0.0

    def time(self) -> float:
        """Real time plus what the test advanced."""
        return time.time() + self._offset

    def now(self) -> datetime:
        """time() as a UTC datetime."""
        return datetime.fromtimestamp(self.time(), UTC)

    def advance(self, seconds: float) -> None:
        """Move ahead of the real clock."""
        self._offset += seconds

    def set(self, t: float) -> None:
        """Jump to a given Unix time (ahead of the real one)."""
        self._offset = t - time.time()


class HostSide:
    """What the containers reach outside the cluster, listening on the podman network's
    gateway address: the test Redis and Postgres (forwarded: they listen on loopback only), a
    real SMTP server and the SMS provider's webhook receiver. Runs in a thread of its own (the
    tests' event loops come and go)."""

    def __init__(self, address: str, redis: tuple[str, int], postgres: tuple[str, int]) -> None:
        self.address = address
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.redis = TcpProxy(*redis, listen_host=address)
        self.postgres = TcpProxy(*postgres, listen_host=address)
        self.smtp = SmtpServer(host=address)
        self.inbox = Inbox()
        self._runner: web.AppRunner | None = None
        self.sms_port = 0

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        """Run a coroutine on the host side's loop."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _start(self) -> None:
        await self.redis.start()
        await self.postgres.start()
        app = web.Application()
        app.router.add_post("/sms", self.inbox.handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.address, 0)
        await site.start()
        self.sms_port = int(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]

    async def _stop(self) -> None:
        await self.redis.stop()
        await self.postgres.stop()
        if self._runner:
            await self._runner.cleanup()

    def start(self) -> HostSide:
        """Listen on every port."""
        self._thread.start()
        self.call(self._start())
        self.smtp.start()
        return self

    def stop(self) -> None:
        """Stop listening."""
        self.smtp.stop()
        self.call(self._stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)

    @property
    def hosts(self) -> dict[str, str]:
        """The --add-host names of the host's services."""
        return dict.fromkeys((DB_HOST, CACHE_HOST, SMTP_HOST, SMS_HOST), self.address)


@dataclass
class Replica:
    """One running container of a part."""

    part: Part
    name: str
    started: float
    ready: float | None = None

    @functools.cached_property
    def ip(self) -> str:
        """Its address on the network."""
        out = podman("inspect", self.name, "--format",
                     "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}").stdout
        return out.split()[0]

    def url(self, port: int = 8080) -> str:
        """Its base URL, straight (not through a Service name)."""
        return f"http://{self.ip}:{port}"


def http_status(url: str, timeout: float = 2) -> int | None:
    """GET url: its status, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 (http to a test container)
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)
    except (OSError, urllib.error.URLError):
        return None


@dataclass
class Cluster:
    """The rendered objects run on one podman network (see the module's docstring)."""

    objs: tuple[Obj, ...]
    image: str
    run_id: str
    secret_name: str
    secret: dict[str, str]
    host: HostSide
    replicas: dict[str, int] = field(default_factory=dict)
    network: str = ""
    running: dict[str, list[Replica]] = field(default_factory=dict)
    jobs: dict[str, tuple[int, float, str]] = field(default_factory=dict)

    @staticmethod
    def create_network(run_id: str, image: str) -> tuple[str, str]:
        """A podman network of the run's own: (name, its gateway address). The host's side of
        the bridge exists only while a container is attached: one that sleeps holds it, so
        HostSide can listen there before the first part starts."""
        name = f"mfa-{run_id}"
        podman("network", "create", name)
        podman("run", "--detach", "--name", f"mfa-{run_id}-network", "--network", name,
               "--read-only", "--cap-drop=all", "--entrypoint", '["sleep", "infinity"]', image)
        info = json.loads(podman("network", "inspect", name).stdout)[0]
        return name, str(info["subnets"][0]["gateway"])

    def container_name(self, part: str, index: int) -> str:
        """The container of a part's index-th replica."""
        return f"mfa-{self.run_id}-{part}-{index}"

    def env(self, part: Part) -> dict[str, str]:
        """The part's environment."""
        return resolve_env(part, self.objs, {self.secret_name: self.secret})

    def start(self, part: Part, index: int) -> Replica:
        """One replica, detached."""
        env = self.env(part)
        name = self.container_name(part.name, index)
        podman(*run_args(part, image=self.image, name=name, network=self.network,
                         env_names=sorted(env), hosts=self.host.hosts), env=env)
        replica = Replica(part, name, time.monotonic())
        self.running.setdefault(part.name, []).append(replica)
        return replica

    def run_job(self, part: Part) -> tuple[int, float, str]:
        """A Job's pod to completion: (exit code, seconds, its log)."""
        env = self.env(part)
        name = self.container_name(part.name, 0)
        t0 = time.monotonic()
        podman(*run_args(part, image=self.image, name=name, network=self.network,
                         env_names=sorted(env), hosts=self.host.hosts), env=env)
        deadline = float(part.workload["spec"].get("activeDeadlineSeconds", 600))
        code = int(podman("wait", name, timeout=deadline).stdout.strip() or -1)
        log = self.logs(name)
        self.jobs[part.name] = (code, time.monotonic() - t0, log)
        return self.jobs[part.name]

    def logs(self, name: str, tail: int = 60) -> str:
        """A container's last log lines."""
        done = podman("logs", "--tail", str(tail), name, check=False)
        return done.stdout + done.stderr

    def state(self, name: str) -> str:
        """running, exited, ..."""
        return podman("inspect", name, "--format", "{{.State.Status}}").stdout.strip()

    def wait_ready(self, started: list[Replica]) -> None:
        """Poll every replica's startupProbe, then its readinessProbe, all at once (each
        replica's `ready` is when its readiness first passed); AssertionError with the
        container's log when a startupProbe's budget (failureThreshold x periodSeconds) runs
        out or a process exits."""
        pending = {r.name: (r, "startupProbe") for r in started}
        looked = time.monotonic()
        while pending:
            look = time.monotonic() - looked > 1  # podman inspect is slow: once a second
            looked = time.monotonic() if look else looked
            for name, (replica, kind) in list(pending.items()):
                found = replica.part.probe(kind)
                if found is None or http_status(replica.url(found[1]) + found[0]) == 200:
                    if kind == "startupProbe":
                        pending[name] = (replica, "readinessProbe")
                    else:
                        replica.ready = time.monotonic()
                        del pending[name]
                    continue
                probe = replica.part.probe("startupProbe")
                budget = 60.0 if probe is None else (
                    float(probe[2].get("periodSeconds", 10))
                    * int(probe[2].get("failureThreshold", 3)))
                state = self.state(name) if look else "running"
                assert state == "running" and time.monotonic() - replica.started < budget, (
                    f"{name}: {kind} never passed ({state}):\n{self.logs(name)}")
            time.sleep(0.05)

    def up(self) -> None:
        """The Jobs to completion (migrations first, as the rollout does), then every
        Deployment's replicas, each waited for until ready."""
        all_parts = parts(self.objs)
        for job in (p for p in all_parts if p.kind == "Job"):
            code, _, log = self.run_job(job)
            assert code == 0, f"Job {job.name} failed ({code}):\n{log}"
        self.wait_ready([self.start(p, i) for p in all_parts if p.kind == "Deployment"
                         for i in range(self.replicas.get(p.name, 1))])

    def replica(self, part: str, index: int = 0) -> Replica:
        """A running replica of a part."""
        return self.running[part][index]

    def url(self, part: str, index: int = 0) -> str:
        """A part's replica's base URL."""
        return self.replica(part, index).url()

    def run_pre_stop(self, replica: Replica) -> None:
        """The preStop hook, run in the container (it must exist in the image)."""
        command = replica.part.pre_stop
        if command:
            podman("exec", replica.name, *command, timeout=replica.part.grace)

    def signal(self, replica: Replica, sig: str = "TERM") -> None:
        """Send the container's process a signal."""
        podman("kill", "--signal", sig, replica.name)

    def wait_exit(self, replica: Replica, timeout: float) -> int | None:
        """Its exit code, or None when it is still running after timeout (then killed, as the
        kubelet kills at the end of terminationGracePeriodSeconds)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.state(replica.name) != "running":
                return int(podman("inspect", replica.name, "--format",
                                  "{{.State.ExitCode}}").stdout.strip())
            time.sleep(0.1)
        podman("kill", "--signal", "KILL", replica.name, check=False)
        return None

    def stats(self) -> dict[str, tuple[int, float]]:
        """(memory in use in bytes, CPU seconds used so far) per container of the run, from
        the containers' cgroups (podman stats)."""
        out = podman("stats", "--no-stream", "--no-reset", "--format", "json").stdout
        found = {}
        for row in json.loads(out or "[]"):
            name = row.get("name") or row.get("Name")
            if name and name.startswith(f"mfa-{self.run_id}-"):
                found[name] = (memory_bytes(row["mem_usage"]), go_seconds(row["cpu_time"]))
        return found

    def down(self) -> None:
        """Remove every container of the run and its network."""
        names = podman("ps", "-a", "--filter", f"name=mfa-{self.run_id}-", "--format",
                       "{{.Names}}", check=False).stdout.split()
        if names:
            podman("rm", "--force", "--time", "0", *names, check=False, timeout=120)
        if self.network:
            podman("network", "rm", "--force", self.network, check=False)


def remove_leftovers() -> list[str]:
    """Remove the containers and networks of earlier runs whose process is gone (a run that
    was killed before its clean-up); run ids start with their process id. Their names."""
    removed = []
    for network in podman("network", "ls", "--format", "{{.Name}}").stdout.split():
        m = re.fullmatch(r"mfa-(\d+)-[0-9a-f]+", network)
        if m is None or Path(f"/proc/{m.group(1)}").exists():
            continue
        names = podman("ps", "-a", "--filter", f"name=^{network}-", "--format",
                       "{{.Names}}").stdout.split()
        if names:
            podman("rm", "--force", "--time", "0", *names, check=False, timeout=120)
        podman("network", "rm", "--force", network, check=False)
        removed.append(network)
    return removed


def memory_bytes(text: str) -> int:
    """podman stats' "81.2MB / 268.4MB" (usage first) as bytes."""
    usage = text.split("/")[0].strip()
    m = re.fullmatch(r"([0-9.]+)\s*([kKMGT]?i?B)", usage)
    assert m, text
    scale = {"B": 1, "kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9, "KiB": 2**10, "MiB": 2**20,
             "GiB": 2**30}
    return int(float(m.group(1)) * scale[m.group(2)])


def go_seconds(text: str) -> float:
    """A Go duration as podman prints it ("1m2.5s", "583.39ms", "12µs") in seconds."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
    found = re.findall(r"([0-9.]+)(h|ms|us|µs|ns|m|s)", text)
    assert found or text == "0", text
    return sum(float(n) * units[u] for n, u in found)
