"""Start and stop, on loopback ports, the scale-out stores the tests run against: a 3-master
Redis Cluster, two Sentinel setups (1 master, 1 replica, 3 sentinels; one plain, one TLS), a
TLS-only Redis and PgBouncer in transaction pooling mode. Standard library only (it runs
before the venv exists).

    scripts/scale-services up   [--dir DIR] [--base-port N] [--down-after MS] [PART ...]
    scripts/scale-services down [--dir DIR]
    scripts/scale-services urls [--dir DIR]
    scripts/scale-services status [--dir DIR] [--base-port N]   (exit 1 when a part is down)

Ports, from the base (default 7000): cluster nodes base+1..3 (TLS base+11..13, cluster bus
base+21..23), Sentinel master/replica base+101/102 and sentinels base+111..113, the TLS
Sentinel setup the same at base+201.., the TLS-only server base+31, PgBouncer base+301. Every
data node has ACL user `mfa` (the `default` user is off) with a password made on first start
in DIR/password; the sentinels require their own password (DIR/sentinel-password). TLS uses a
self-signed certificate made with openssl in DIR/tls (also the client certificate: the
servers require one). DIR/urls.json holds the MFA_REDIS_URL / MFA_DATABASE_URL of each. `up`
is idempotent: what answers is left alone.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

MASTERS = 3
SENTINELS = 3
SERVICE = "mymaster"
START_S = 30.0
PARTS = ("cluster", "sentinel", "sentinel-tls", "single-tls", "pgbouncer")


def _which(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin:/sbin")


def _ensure_packages() -> None:
    """Install Debian's packages as root when a binary is missing."""
    wanted = {"redis-server": "redis-server", "redis-cli": "redis-tools",
              "redis-sentinel": "redis-sentinel", "pgbouncer": "pgbouncer"}
    missing = sorted({pkg for binary, pkg in wanted.items() if not _which(binary)})
    if not missing:
        return
    if os.geteuid() != 0:
        sys.exit(f"scale-services: install {' '.join(missing)} (Debian packages) first")
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True,
                   env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
                   stdout=subprocess.DEVNULL)


class Layout:
    """Where everything lives and listens."""

    def __init__(self, root: Path, base: int, down_after: int) -> None:
        self.root = root
        self.down_after = down_after
        self.base = base
        self.tls = root / "tls"

    def secret(self, name: str) -> str:
        path = self.root / name
        if not path.exists():
            path.write_text(secrets.token_urlsafe(24))
            path.chmod(0o600)
        return path.read_text().strip()

    @property
    def password(self) -> str:
        return self.secret("password")

    @property
    def sentinel_password(self) -> str:
        return self.secret("sentinel-password")

    def tls_files(self) -> dict[str, str]:
        self.tls.mkdir(parents=True, exist_ok=True)
        cert, key = self.tls / "cert.pem", self.tls / "key.pem"
        if not cert.exists():
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:prime256v1", "-nodes",
                            "-days", "3650", "-subj", "/CN=127.0.0.1", "-keyout", str(key),
                            "-out", str(cert), "-addext",
                            "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                           check=True, capture_output=True)
            key.chmod(0o644)  # pgbouncer/redis may run as another user; test-only key
        return {"cert": str(cert), "key": str(key)}


def _resp(sock: socket.socket, *args: str) -> bytes:
    out = f"*{len(args)}\r\n".encode()
    for a in args:
        b = a.encode()
        out += b"$%d\r\n%s\r\n" % (len(b), b)
    sock.sendall(out)
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    if data.startswith(b"$"):  # a bulk string: read it whole
        n = int(data[1:data.index(b"\r\n")])
        while n >= 0 and len(data) < data.index(b"\r\n") + 2 + n + 2:
            data += sock.recv(65536)
    return data


def redis_cmd(port: int, *args: str, user: str | None = None, password: str | None = None,
              tls: dict[str, str] | None = None) -> bytes:
    """One command on 127.0.0.1:port (AUTH first when given); the raw reply."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=2)
    sock: socket.socket = raw
    try:
        if tls:
            ctx = ssl.create_default_context(cafile=tls["cert"])
            ctx.load_cert_chain(tls["cert"], tls["key"])
            sock = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        if password:
            _resp(sock, *(["AUTH", user, password] if user else ["AUTH", password]))
        return _resp(sock, *args)
    finally:
        sock.close()


def _answers(port: int, **kw: object) -> bool:
    try:
        return redis_cmd(port, "PING", **kw).startswith(b"+PONG")  # type: ignore[arg-type]
    except (OSError, ValueError):
        return False


def _wait(what: str, ok: object, seconds: float = START_S) -> None:
    deadline = time.monotonic() + seconds
    while not ok():  # type: ignore[operator]
        if time.monotonic() > deadline:
            sys.exit(f"scale-services: {what} did not come up (see its log)")
        time.sleep(0.1)


def _tls_conf(lay: Layout, port: int) -> list[str]:
    t = lay.tls_files()
    return ["port 0", f"tls-port {port}", f"tls-cert-file {t['cert']}",
            f"tls-key-file {t['key']}", f"tls-ca-cert-file {t['cert']}",
            "tls-auth-clients yes", "tls-replication yes"]


def _acl(lay: Layout) -> list[str]:
    return ["user default off", f"user mfa on >{lay.password} ~* &* +@all"]


def _start_redis(d: Path, lines: list[str], *, sentinel: bool = False) -> None:
    d.mkdir(parents=True, exist_ok=True)
    conf = d / ("sentinel.conf" if sentinel else "redis.conf")
    common = ["bind 127.0.0.1", "protected-mode no", "daemonize yes", f"dir {d}",
              f"pidfile {d}/pid", f"logfile {d}/log"]
    if not sentinel:
        common += ['save ""', "appendonly no"]
    conf.write_text("\n".join(common + lines) + "\n")
    binary = _which("redis-sentinel") if sentinel else None
    cmd = [binary, str(conf)] if binary else [str(_which("redis-server")), str(conf)]
    if sentinel and not binary:
        cmd.append("--sentinel")
    subprocess.run(cmd, check=True)


def up_cluster(lay: Layout) -> dict[str, str]:
    """Three masters, plain and TLS ports on each, ACL user, created with redis-cli."""
    t = lay.tls_files()
    plain = [lay.base + i for i in range(1, MASTERS + 1)]
    tls_ports = [p + 10 for p in plain]
    auth = {"user": "mfa", "password": lay.password}
    ca = f"ssl_ca_certs={t['cert']}&ssl_certfile={t['cert']}&ssl_keyfile={t['key']}"
    urls = {"cluster": f"redis+cluster://mfa:{lay.password}@"
                       + ",".join(f"127.0.0.1:{p}" for p in plain),
            "cluster_tls": f"rediss+cluster://mfa:{lay.password}@"
                           + ",".join(f"127.0.0.1:{p}" for p in tls_ports) + f"/?{ca}"}

    def state_ok() -> bool:
        try:
            return b"cluster_state:ok" in redis_cmd(plain[0], "CLUSTER", "INFO", **auth)
        except OSError:
            return False

    if state_ok():
        return urls
    rejoin = False
    for i, (p, tp) in enumerate(zip(plain, tls_ports, strict=True)):
        if _answers(p, **auth):
            continue
        d = lay.root / "cluster" / str(p)
        if (d / "nodes.conf").exists() and any(
                (lay.root / "cluster" / str(q) / "nodes.conf").exists() for q in plain
                if q != p):
            rejoin = True  # a node that stopped: it comes back with its slots
            (d / "pid").unlink(missing_ok=True)
        else:
            shutil.rmtree(d, ignore_errors=True)
        _start_redis(d, [f"port {p}", f"tls-port {tp}", f"tls-cert-file {t['cert']}",
                         f"tls-key-file {t['key']}", f"tls-ca-cert-file {t['cert']}",
                         "tls-auth-clients yes", "tls-cluster yes", "cluster-enabled yes",
                         f"cluster-port {lay.base + 21 + i}",
                         f"cluster-config-file {d}/nodes.conf", "cluster-node-timeout 2000",
                         *_acl(lay)])
        _wait(f"cluster node {p}", lambda p=p: _answers(p, **auth))
    if not rejoin:
        subprocess.run([str(_which("redis-cli")), "--tls", "--cacert", t["cert"], "--cert",
                        t["cert"], "--key", t["key"], "--user", "mfa", "--pass",
                        lay.password, "--cluster", "create",
                        *(f"127.0.0.1:{p}" for p in tls_ports), "--cluster-replicas", "0",
                        "--cluster-yes"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait("the cluster (cluster_state:ok)", state_ok)
    return urls


def up_sentinel(lay: Layout, *, tls: bool) -> dict[str, str]:
    """A master, its replica and three sentinels (quorum 2), ACL user; the sentinels call a
    silent master down after --down-after ms."""
    off = 200 if tls else 100
    name = "sentinel_tls" if tls else "sentinel"
    master, replica = lay.base + off + 1, lay.base + off + 2
    sentinels = [lay.base + off + 11 + i for i in range(SENTINELS)]
    t = lay.tls_files() if tls else None
    auth = {"user": "mfa", "password": lay.password, "tls": t}
    s_auth = {"password": lay.sentinel_password, "tls": t}

    def listen(port: int) -> list[str]:
        return _tls_conf(lay, port) if tls else [f"port {port}"]

    for port, extra in ((master, []), (replica, [f"replicaof 127.0.0.1 {master}"])):
        if not _answers(port, **auth):  # type: ignore[arg-type]
            _start_redis(lay.root / name / str(port),
                         listen(port) + _acl(lay) + ["masteruser mfa",
                                                     f"masterauth {lay.password}"] + extra)
            _wait(f"redis {port}", lambda p=port: _answers(p, **auth))  # type: ignore[arg-type]
    _wait("the replica's link to its master",  # WAIT (one-time values) needs it up
          lambda: b"master_link_status:up" in redis_cmd(replica, "INFO", "replication",
                                                        **auth))  # type: ignore[arg-type]
    for port in sentinels:
        if _answers(port, **s_auth):  # type: ignore[arg-type]
            continue
        d = lay.root / name / str(port)
        shutil.rmtree(d, ignore_errors=True)
        _start_redis(d, listen(port) + [
            f"requirepass {lay.sentinel_password}",
            f"sentinel sentinel-pass {lay.sentinel_password}",
            f"sentinel monitor {SERVICE} 127.0.0.1 {master} 2",
            f"sentinel auth-user {SERVICE} mfa", f"sentinel auth-pass {SERVICE} {lay.password}",
            f"sentinel down-after-milliseconds {SERVICE} {lay.down_after}",
            f"sentinel failover-timeout {SERVICE} 5000"], sentinel=True)
        _wait(f"sentinel {port}", lambda p=port: _answers(p, **s_auth))  # type: ignore[arg-type]
    scheme = "rediss+sentinel" if tls else "redis+sentinel"
    q = f"sentinel_password={lay.sentinel_password}"
    if t:
        q += f"&ssl_ca_certs={t['cert']}&ssl_certfile={t['cert']}&ssl_keyfile={t['key']}"
    hosts = ",".join(f"127.0.0.1:{p}" for p in sentinels)
    out = {name: f"{scheme}://mfa:{lay.password}@{hosts}/{SERVICE}/0?{q}",
           f"{name}_pids": str(lay.root / name)}
    return out


def up_single_tls(lay: Layout) -> dict[str, str]:
    """One TLS-only server with the ACL user (the rediss:// form)."""
    port = lay.base + 31
    t = lay.tls_files()
    if not _answers(port, user="mfa", password=lay.password, tls=t):
        _start_redis(lay.root / "single_tls", _tls_conf(lay, port) + _acl(lay))
        _wait("redis (TLS)", lambda: _answers(port, user="mfa", password=lay.password, tls=t))
    return {"single_tls": f"rediss://mfa:{lay.password}@127.0.0.1:{port}/0?"
                          f"ssl_ca_certs={t['cert']}&ssl_certfile={t['cert']}"
                          f"&ssl_keyfile={t['key']}"}


def up_pgbouncer(lay: Layout) -> dict[str, str]:
    """PgBouncer in transaction pooling mode in front of 127.0.0.1:5432 (every database)."""
    port = lay.base + 301
    d = lay.root / "pgbouncer"
    url = {"pgbouncer": f"postgresql://postgres@127.0.0.1:{port}"}
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return url
    except OSError:
        pass
    d.mkdir(parents=True, exist_ok=True)
    (d / "users.txt").write_text('"postgres" ""\n')
    (d / "pgbouncer.ini").write_text(f"""[databases]
* = host=127.0.0.1 port=5432

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {d}/users.txt
pool_mode = transaction
max_client_conn = 2000
default_pool_size = 40
server_reset_query =
ignore_startup_parameters = extra_float_digits
logfile = {d}/log
pidfile = {d}/pid
""")
    cmd = [str(_which("pgbouncer")), "-d", str(d / "pgbouncer.ini")]
    if os.geteuid() == 0:  # pgbouncer refuses to run as root
        shutil.chown(d, "postgres")
        for f in d.iterdir():
            shutil.chown(f, "postgres")
        cmd[2:2] = ["-u", "postgres"]
    subprocess.run(cmd, check=True)

    def answers() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False

    _wait("pgbouncer", answers)
    return url


def status(lay: Layout) -> list[str]:
    """The parts that do not answer."""
    t = lay.tls_files()
    auth = {"user": "mfa", "password": lay.password}
    checks = {
        "cluster": lambda: b"cluster_state:ok" in redis_cmd(lay.base + 1, "CLUSTER", "INFO",
                                                            **auth),
        "sentinel": lambda: all(_answers(lay.base + 111 + i, password=lay.sentinel_password)
                                for i in range(SENTINELS)),
        "sentinel-tls": lambda: all(_answers(lay.base + 211 + i,
                                             password=lay.sentinel_password, tls=t)
                                    for i in range(SENTINELS)),
        "single-tls": lambda: _answers(lay.base + 31, tls=t, **auth),
        "pgbouncer": lambda: socket.create_connection(("127.0.0.1", lay.base + 301),
                                                      timeout=1).close() is None,
    }
    bad = []
    for part, check in checks.items():
        try:
            ok = check()
        except OSError:
            ok = False
        if not ok:
            bad.append(part)
    return bad


def down(root: Path) -> None:
    """SIGTERM every process this script started under root (by its pidfile)."""
    for pidfile in sorted(root.rglob("pid")):
        try:
            os.kill(int(pidfile.read_text().strip()), signal.SIGTERM)
        except (ValueError, ProcessLookupError, PermissionError):
            pass
        pidfile.unlink(missing_ok=True)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="scale-services")
    ap.add_argument("action", choices=("up", "down", "urls", "status"))
    ap.add_argument("parts", nargs="*", default=[], help=", ".join(PARTS))
    ap.add_argument("--dir", default=os.environ.get("MFA_SCALE_DIR", "/tmp/mfa-scale"))
    ap.add_argument("--base-port", type=int, default=int(os.environ.get("MFA_SCALE_BASE", 7000)))
    ap.add_argument("--down-after", type=int, default=5000,
                    help="ms before the sentinels call a silent master down (failover tests: "
                         "1000)")
    args = ap.parse_args(argv)
    if set(args.parts) - set(PARTS):
        ap.error(f"parts are {', '.join(PARTS)}")
    root = Path(args.dir).absolute()
    urls_file = root / "urls.json"
    if args.action == "down":
        down(root)
        return 0
    if args.action == "urls":
        print(urls_file.read_text() if urls_file.exists() else "{}")
        return 0
    if args.action == "status":
        if not root.exists():
            print("scale-services: not started")
            return 1
        bad = status(Layout(root, args.base_port, args.down_after))
        print(f"scale-services: {', '.join(bad)} do not answer" if bad else
              "scale-services: everything answers")
        return 1 if bad else 0
    _ensure_packages()
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    lay = Layout(root, args.base_port, args.down_after)
    parts = args.parts or list(PARTS)
    urls = json.loads(urls_file.read_text()) if urls_file.exists() else {}
    for part in parts:
        if part == "cluster":
            urls.update(up_cluster(lay))
        elif part == "single-tls":
            urls.update(up_single_tls(lay))
        elif part == "pgbouncer":
            urls.update(up_pgbouncer(lay))
        else:
            urls.update(up_sentinel(lay, tls=part == "sentinel-tls"))
    urls_file.write_text(json.dumps(urls, indent=2))
    urls_file.chmod(0o600)
    print(f"scale-services: {', '.join(parts)} answer (URLs in {urls_file})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
