"""The deploy check: the image built with podman (scripts/build-image) and the rendered prod
overlay's parts run as their manifests run them (tests/support/pods.py): the migration Job to
completion, then every Deployment, on a podman network where each part answers at its
Service's name, against the test Redis and Postgres. Then, through the gateway container,
every factor's login, and a SIGTERM to one replica drained as deploy/README.md documents.

The prod overlay is used as rendered, with the values an operator sets for a site (the
ConfigMap merge an overlay of theirs would make): the SMTP relay and the SMS provider (the
webhook provider, to a real receiver) are the test's, on the host. The Secret is generated
with the keys deploy/k8s/secret-keys.txt lists. Each part runs one replica, totp two (one is
stopped by the drain test while the other serves).

Needs root (podman), debootstrap and kubectl; skips without them, fails under
MFA_TEST_STRICT=1. `make deploy-check` runs only this module."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import asyncpg
import jwt
import pyotp
import pytest

from bench import data
from shared.crypto import b64e
from shared.mfa.tokens import new_signing_key_pem
from shared.settings import Settings
from shared.stores.bundle import open_stores
from tests.conftest import PG_ADMIN, PREFIX, Ids, Stack, pg_admin, run_sync, unavailable
from tests.deploy.test_manifests import (
    REPO,
    SECRET_NAME,
    _render,
    documented_secret_keys,
    renderer,
)
from tests.email.conftest import code_in, login_code, verify
from tests.sms.conftest import AUTH as SMS_AUTH
from tests.sms.conftest import allow_sms, enroll_phone
from tests.support import totp_flows, webauthn_flows
from tests.support.pods import (
    CACHE_HOST,
    DB_HOST,
    SMS_HOST,
    SMTP_HOST,
    Cluster,
    HostSide,
    Replica,
    WallClock,
    http_status,
    parts,
    podman,
    remove_leftovers,
    resolve_env,
    run_args,
)
from tests.support.soft_authenticator import SoftAuthenticator

RUN_ID = f"{os.getpid()}-{uuid.uuid4().hex[:6]}"  # the pid: remove_leftovers() knows it
DRAINED = "totp"  # the part with two replicas, one of which the drain test stops
# Redis database of the deploy check's containers (their key prefix is the default, mfa:).
REDIS_DB = 10
REDIS = urlsplit(os.environ.get("MFA_TEST_REDIS_URL", "redis://127.0.0.1:6379/9"))
PG = urlsplit(PG_ADMIN)
VERIFY = "/resources/auth/v1/user/mfa/verify"
DATABASE = f"mfa_deploy_{os.getpid()}"  # empty at the start: the migration Job migrates it


def build_image() -> str:
    """scripts/build-image; the image id. Exit code 3 means podman or its base cannot be set
    up here (skip, or fail under MFA_TEST_STRICT=1); any other failure fails."""
    done = subprocess.run([str(REPO / "scripts" / "build-image")], capture_output=True,
                          text=True, timeout=1800, check=False)
    if done.returncode == 3:
        unavailable(f"podman and a base image ({done.stderr.strip()[-500:]})")
    assert done.returncode == 0, f"the image did not build:\n{done.stderr[-4000:]}"
    return done.stdout.strip().splitlines()[-1]


def site_config(objs: tuple[dict[str, Any], ...], host: HostSide) -> tuple[dict[str, Any], ...]:
    """The overlay's objects with the site's values merged into mfa-config."""
    site = {"MFA_SMS_PROVIDER": "webhook",
            "MFA_SMS_WEBHOOK_URL": f"http://{SMS_HOST}:{host.sms_port}/sms",
            "MFA_SMTP_HOST": SMTP_HOST, "MFA_SMTP_PORT": str(host.smtp.port),
            "MFA_SMTP_TLS": "none",
            # the test's Postgres on the host has no TLS (a site's would: sslmode=verify-full)
            "MFA_DATABASE_ALLOW_UNVERIFIED_TLS": "true"}
    out = []
    for o in objs:
        if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("mfa-config"):
            o = {**o, "data": {**o["data"], **site}}
        out.append(o)
    return tuple(out)


def generated_secret(host: HostSide, database: str) -> dict[str, str]:
    """mfa-secrets for this run: the datastores on the host, fresh keys."""
    secret = {
        "database-url": f"postgresql://{PG.username or 'postgres'}@{DB_HOST}:"
                        f"{host.postgres.port}/{database}",
        "redis-url": f"redis://{CACHE_HOST}:{host.redis.port}/{REDIS_DB}",
        "internal-api-key": secrets.token_urlsafe(32),
        "jwt-private-key": new_signing_key_pem(),
        "encryption-keys": "k1:" + b64e(secrets.token_bytes(32)),
        "hmac-key": b64e(secrets.token_bytes(32)),
        "sms-webhook-secret": host.inbox.secret,
    }
    documented = documented_secret_keys()
    assert set(secret) <= set(documented)
    assert {k for k, required in documented.items() if required} <= set(secret)
    return secret


@contextmanager
def deployed(replicas: dict[str, int]) -> Iterator[Cluster]:
    """The prod overlay's parts running in podman, ready; removed afterwards."""
    if renderer() is None:
        unavailable("kubectl (scripts/ensure-k8s-tools)")
    image = build_image()
    remove_leftovers()
    try:
        run_sync(pg_admin(f"DROP DATABASE IF EXISTS {DATABASE}"))
        run_sync(pg_admin(f"CREATE DATABASE {DATABASE}"))
    except (OSError, asyncpg.PostgresError) as e:
        unavailable(f"Postgres ({e.__class__.__name__})")
    network, gateway_ip = Cluster.create_network(RUN_ID, image)
    host = HostSide(gateway_ip, redis=(REDIS.hostname or "127.0.0.1", REDIS.port or 6379),
                    postgres=(PG.hostname or "127.0.0.1", PG.port or 5432))
    c = Cluster((), image, RUN_ID, SECRET_NAME, {}, host, replicas=replicas, network=network)
    try:
        host.start()
        c.objs = site_config(_render("prod"), host)
        c.secret = generated_secret(host, DATABASE)
        c.up()
        yield c
    finally:
        c.down()
        host.stop()
        run_sync(pg_admin(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"))


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """Every part, one replica each but totp's two."""
    with deployed({DRAINED: 2}) as c:
        yield c


def host_settings(c: Cluster) -> Settings:
    """What the parts run on (the totp container's environment), with the datastores as the
    host reaches them: for the test's own store reads and tokens."""
    env = c.env(next(p for p in parts(c.objs) if p.name == "totp"))
    pg_host = f"{PG.username or 'postgres'}@{PG.hostname}:{PG.port or 5432}"
    return Settings.from_env({
        **env,
        "MFA_DATABASE_URL": f"postgresql://{pg_host}/{DATABASE}",
        "MFA_REDIS_URL": f"redis://{REDIS.hostname}:{REDIS.port or 6379}/{REDIS_DB}",
    })


@pytest.fixture
async def stack(cluster: Cluster) -> AsyncIterator[Stack]:
    """The tests' Stack on the containers: the gateway container's URL, session's (the
    host's internal API) and operators' (operator tooling), the same keys and stores."""
    settings = host_settings(cluster)
    clock = WallClock()
    stores = await open_stores(settings, clock)
    try:
        async with aiohttp.ClientSession() as http:
            yield Stack("containers", cluster.url("gateway"), cluster.url("session"), settings,
                        stores, clock, http, {"operators": cluster.url("operators")})
    finally:
        await stores.close()


def test_the_migration_job_ran_and_every_part_is_ready_as_its_manifest_says(
        cluster: Cluster) -> None:
    code, _, log = cluster.jobs["mfa-migrate"]
    assert code == 0, log

    async def applied() -> int:
        conn = await asyncpg.connect(host_settings(cluster).database_url, timeout=5)
        try:
            return int(await conn.fetchval("SELECT count(*) FROM schema_migrations"))
        finally:
            await conn.close()

    assert run_sync(applied()) >= 1
    deployments = {p.name for p in parts(cluster.objs) if p.kind == "Deployment"}
    assert set(cluster.running) == deployments
    assert deployments >= {"gateway", "session", "totp", "sms", "email", "webauthn",
                           "operators"}
    for name, replicas in cluster.running.items():
        for r in replicas:
            assert http_status(r.url() + "/healthz") == 200, name
            assert http_status(r.url() + "/readyz") == 200, name
            # As the pod's securityContext says: uid 10001, nothing writable but /tmp.
            probe = podman("exec", r.name, "python", "-c",
                           "import os\nprint(os.getuid(), os.getgid())\n"
                           "for p in ('/app/x', '/opt/venv/x', '/tmp/x'):\n"
                           "    try:\n        open(p, 'w').close(); print(p, 'ok')\n"
                           "    except OSError as e:\n        print(p, e.strerror)\n").stdout
            assert probe.split("\n")[:4] == ["10001 10001", "/app/x Read-only file system",
                                             "/opt/venv/x Read-only file system",
                                             "/tmp/x ok"], (name, probe)
    # The gateway is ready only when every upstream it names (by Service name) is.
    assert http_status(cluster.url("gateway") + "/readyz") == 200


def test_prometheus_scrapes_every_part_where_its_annotations_say(cluster: Cluster) -> None:
    for name, replicas in cluster.running.items():
        notes = replicas[0].part.workload["spec"]["template"]["metadata"]["annotations"]
        assert notes["prometheus.io/scrape"] == "true"
        url = f"http://{replicas[0].ip}:{notes['prometheus.io/port']}{notes['prometheus.io/path']}"
        with urllib.request.urlopen(url, timeout=5) as r:  # noqa: S310 (a test container)
            assert r.status == 200 and b"# TYPE" in r.read(), name
    # The gateway's public port, which the Ingress routes every path to, has no /metrics.
    assert http_status(cluster.url("gateway") + "/metrics") == 404


def test_the_overlay_as_shipped_refuses_to_start_sms_and_says_why(cluster: Cluster) -> None:
    """deploy/README.md: "A part whose settings cannot work refuses to start and says why in
    its log": prod's sms chooses Twilio, whose account is left for the operator to fill in."""
    shipped = _render("prod")
    sms = next(p for p in parts(shipped) if p.name == "sms")
    env = resolve_env(sms, shipped, {SECRET_NAME: cluster.secret})
    replica = Replica(sms, cluster.container_name("sms-as-shipped", 0), time.monotonic())
    podman(*run_args(sms, image=cluster.image, name=replica.name, network=cluster.network,
                     env_names=sorted(env), hosts=cluster.host.hosts), env=env)
    code = cluster.wait_exit(replica, 60)
    log = cluster.logs(replica.name)
    assert code == 78, log  # a configuration error, before it ever listens
    [line] = [json.loads(x) for x in log.splitlines()]  # one JSON line, no traceback
    assert line["level"] == "ERROR" and "needs MFA_TWILIO_ACCOUNT_SID" in line["message"]
    assert not any(value in log for value in cluster.secret.values())


def test_the_documented_embedded_command_serves_the_api(cluster: Cluster) -> None:
    """deploy/README.md: `docker run -p 8080:8080 IMAGE python -m gateway --embedded` (with
    MFA_EMBEDDED_PUBLIC=true, as it listens on 0.0.0.0 in a container)."""
    name = cluster.container_name("embedded", 0)
    podman("run", "--detach", "--name", name, "--network", cluster.network,
           "--env", "MFA_EMBEDDED_PUBLIC=true", cluster.image, "python", "-m", "gateway",
           "--embedded")
    replica = Replica(cluster.replica("gateway").part, name, time.monotonic())
    cluster.wait_ready([replica])
    assert http_status(replica.url() + "/openapi.json") == 200
    podman("rm", "--force", "--time", "0", name)


async def test_a_totp_login_through_the_gateway_container(stack: Stack) -> None:
    ids = Ids()
    seed, _ = await totp_flows.enroll(stack, ids)
    mfa_token = await totp_flows.login(stack, ids)
    body = await stack.post(f"{totp_flows.AUTH}/verify",
                            {"mfaToken": mfa_token, "value": totp_flows.code(stack, seed)})
    claims = jwt.decode(body["accessToken"], options={"verify_signature": False})
    assert (claims["sub"], claims["tenantId"]) == (ids.user, ids.tenant)
    assert claims["iss"] == stack.settings.jwt_issuer
    # Signed with the Secret's key, published by session's JWKS through the gateway.
    jwks = await stack.get("/.well-known/jwks.json")
    key = jwt.PyJWK(next(k for k in jwks["keys"] if k["kid"] == stack.settings.jwt_key_id))
    jwt.decode(body["accessToken"], key, algorithms=["EdDSA"],
               options={"verify_aud": False})


async def test_an_sms_code_is_delivered_by_the_provider_and_logs_in(
        stack: Stack, cluster: Cluster) -> None:
    ids, inbox = Ids(), cluster.host.inbox
    await allow_sms(stack, ids)
    device_id, phone = await enroll_phone(stack, ids, inbox)
    session = await stack.start_session(ids)
    pre = await stack.post(f"{SMS_AUTH}/{device_id}", {"mfaToken": session["mfaToken"]})
    body = await stack.post(f"{SMS_AUTH}/{device_id}/verify",
                            {"mfaToken": session["mfaToken"], "otcToken": pre["otcToken"],
                             "code": inbox.code_for(phone)})
    assert body["accessToken"] and body["amr"] == ["mfa", "sms"]
    assert inbox.headers[-1]["X-MFA-Signature"].startswith("v1=")


async def test_an_email_code_is_delivered_by_smtp_and_logs_in(
        stack: Stack, cluster: Cluster) -> None:
    ids, smtp = Ids(), cluster.host.smtp
    mfa_token, otc, code = await login_code(stack, ids, smtp)
    mail = smtp.messages[-1]
    assert mail.rcpt_tos == [ids.email] and code_in(mail) == code
    assert "no-reply@example.com" in mail.message["From"]  # the overlay's MFA_SMTP_FROM
    body = await verify(stack, mfa_token, otc, code)
    assert body["accessToken"]


async def test_a_webauthn_login_through_the_gateway_container(stack: Stack) -> None:
    # The overlay's relying party: example.com, origin https://app.example.com.
    key = SoftAuthenticator(origin="https://app.example.com")
    e = await webauthn_flows.enroll_at_login(stack, Ids(), key)
    assert e.login["accessToken"]
    token, pre = await webauthn_flows.pre_verify(stack, e)
    body = await stack.post(f"{webauthn_flows.AUTH}/{e.device_id}/verify",
                            webauthn_flows.verify_body(token, pre, key.get(pre["options"])))
    claims = jwt.decode(body["accessToken"], options={"verify_signature": False})
    assert claims["sub"] == e.ids.user and "hwk" in claims["amr"]


async def test_a_sigterm_to_one_replica_drains_it_and_no_login_is_lost(
        stack: Stack, cluster: Cluster) -> None:
    """deploy/README.md: preStop sleeps, then SIGTERM; the process stops listening at once,
    answers what arrives on open connections with `Connection: close` and not ready, exits
    when its connections are gone or the grace ends, before terminationGracePeriodSeconds.
    Meanwhile logins through the gateway go on, served by the other replica."""
    victim = cluster.replica(DRAINED, 0)
    people = data.users(f"drain-{RUN_ID}", 1500)
    devices = await data.enroll(stack.settings, stack.stores, people)
    tokens = await data.start_sessions(stack.stores, people, devices)
    otp = pyotp.TOTP(data.SEED)
    outcomes: list[tuple[float, int, str]] = []
    done = asyncio.Event()

    async def logins(http: aiohttp.ClientSession) -> None:
        while tokens and not done.is_set():
            async with http.post(stack.url + PREFIX + VERIFY,
                                 json={"mfaToken": tokens.pop(), "value": otp.now()}) as r:
                outcomes.append((time.monotonic(), r.status, (await r.text())[:200]))
            await asyncio.sleep(0.1)  # a steady trickle (4 workers): it lasts the whole drain

    async with aiohttp.ClientSession() as http, aiohttp.ClientSession() as direct:
        # A keep-alive connection straight to the replica, open before the SIGTERM.
        async with direct.get(victim.url() + "/readyz") as r:
            assert r.status == 200
        workers = [asyncio.create_task(logins(http)) for _ in range(4)]
        await asyncio.sleep(1)
        await asyncio.to_thread(cluster.run_pre_stop, victim)
        assert outcomes and all(s == 200 for _, s, _ in outcomes), outcomes[-3:]
        cluster.signal(victim, "TERM")
        signalled = time.monotonic()
        await asyncio.sleep(0.5)
        # Not ready, on the connection that was open, which it closes...
        async with direct.get(victim.url() + "/readyz") as r:
            assert r.status == 503 and (await r.json())["errorCode"] == "ER-MFA-NOT-READY"
            assert r.headers.get("Connection", "").lower() == "close"
        # ...and no longer listening.
        with pytest.raises(aiohttp.ClientConnectionError):
            async with aiohttp.ClientSession() as fresh:
                await fresh.get(victim.url() + "/healthz")
        grace_left = victim.part.grace - (time.monotonic() - signalled)
        code = await asyncio.to_thread(cluster.wait_exit, victim, grace_left)
        exited = time.monotonic()
        await asyncio.sleep(1)  # logins go on after the replica is gone
        done.set()
        await asyncio.gather(*workers)
    assert code == 0, f"not a clean exit ({code}):\n{cluster.logs(victim.name)}"
    failed = [o for o in outcomes if o[1] != 200]
    assert not failed, failed[:5]
    during = [o for o in outcomes if signalled <= o[0] <= exited]
    after = [o for o in outcomes if o[0] > exited]
    assert during and after, (len(during), len(after), len(tokens))
