"""The Kubernetes manifests in deploy/k8s: every overlay renders, validates against the
Kubernetes schemas, and agrees with itself and with the code (ports, probes, keys, settings).

Tools: kubectl (its built-in kustomize) or kustomize, and kubernetes-validate; install them with
scripts/ensure-k8s-tools. Without them these tests skip, and fail when MFA_REQUIRE_TOOLS=1 or
MFA_TEST_STRICT=1 (CI).
"""

from __future__ import annotations

import ast
import functools
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
OVERLAYS = ("dev", "prod")
# The oldest Kubernetes minor the manifests must be valid for.
K8S_VERSION = "1.31.0"

# The health paths every process serves (docs/frontegg-contract.md section 9); probes use
# nothing else.
PROBE_PATHS = frozenset({"/healthz", "/readyz"})
READINESS_PATH = "/readyz"
LIVENESS_PATH = "/healthz"

# Each part of the service, by Deployment name, and the code folder whose settings it reads.
PARTS = {
    "gateway": "gateway",
    "session": "services/session",
    "totp": "services/totp",
    "sms": "services/sms",
    "email": "services/email",
    "webauthn": "services/webauthn",
    "operators": "services/operators",
}
MIGRATE_JOB = "mfa-migrate"
CODE_DIRS = ("gateway", "services", "shared")
ENV_NAME = re.compile(r"MFA_[A-Z0-9_]+")

SECRET_NAME = "mfa-secrets"
SECRET_KEYS_DOC = K8S / "secret-keys.txt"
DEFAULT_SHUTDOWN_GRACE = 20.0

# Settings the code reads that the cluster deliberately leaves unset: the code's default is
# the right value for a Kubernetes deployment. Each with the reason; anything else the code
# reads must be set in the rendered workloads.
DEFAULTED_ENV: dict[str, str] = {
    "MFA_REUSE_PORT": "off: on Kubernetes each replica is its own pod; only for several copies "
    "of one process on one host (make bench --totp-procs)",
    "MFA_REDIS_PREFIX": "key prefix default mfa: (only tests sharing a Redis change it)",
    "MFA_LOCKOUT_TTL": "7 days after a factor's last attempt (docs/network-faults.md, Redis "
    "memory); only a deployment with another lockout policy changes it",
    "MFA_UPSTREAM_CONNECT_TIMEOUT": "1 s to connect to a replica inside the cluster, then the "
    "next (docs/network-faults.md, timeouts)",
    "MFA_DATABASE_STATEMENT_CACHE": "asyncpg's default (100); 0 only in an overlay whose "
    "database-url points at PgBouncer < 1.21 in transaction pooling mode",
    "MFA_EXPOSE_INTERNAL_API": "off: the host calls session's internal API and operator tools "
    "the operators' admin API in-cluster, never through the public gateway",
    "MFA_JWT_AUDIENCE": "no audience unless the host asks for one (set per deployment)",
    "MFA_JWT_EXTRA_PUBLIC_KEYS": "only during a key rotation (set in the overlay then)",
    "MFA_HOST_JWKS": "empty: only tokens this service issued are accepted until the host's "
    "IdP keys are configured in the overlay",
    "MFA_HOST_JWT_ISSUER": "goes with MFA_HOST_JWKS",
    "MFA_HOST_JWT_AUDIENCE": "goes with MFA_HOST_JWKS",
    "MFA_TOKEN_TTL": "mfaToken lifetime: design default (10 min)",
    "MFA_TOKEN_MAX_FAILURES": "design default (5)",
    "MFA_LOCKOUT_DELAY_AFTER": "design default (5)",
    "MFA_LOCKOUT_MAX_FAILURES": "design default (50, under NIST's 100)",
    "MFA_RECOVERY_ATTEMPTS": "design default (10 per email and client address an hour)",
    "MFA_RECOVERY_IP_LIMIT": "design default (50 per client address an hour)",
    "MFA_RECOVERY_IP_CAP": "the old name of MFA_RECOVERY_IP_LIMIT (still read, with a "
                           "warning): never set it",
    "MFA_RECOVERY_WINDOW": "design default (1 h)",
    "MFA_RECOVERY_EMAIL_LIMIT": "design default (100 per email an hour, across addresses)",
    "MFA_STEP_UP_MAX_AGE": "design cap (1 h) on a step-up's maxAge",
    "MFA_ENFORCE": "tenant policy default (Force); tenants tune it through the API",
    "MFA_STRATEGIES": "tenant policy default; tenants tune it through the API",
    "MFA_ALLOW_REMEMBER_DEVICE": "tenant policy default (off)",
    "MFA_DEVICE_EXPIRATION": "tenant policy default (30 days)",
    "MFA_DEVICE_EXPIRATION_CAP": "design cap (90 days)",
    "MFA_REMEMBER_COOKIE": "cookie name default",
    "MFA_ADMIN_CLAIM": "host token claim default (roles)",
    "MFA_ADMIN_VALUE": "host token claim default (Admin)",
    "MFA_ISSUER_NAME": "authenticator-app label default; set per deployment if wanted",
    "MFA_VENDOR_CLAIM": "off: no token is a vendor credential until the host's IdP issues "
                        "vendor tokens (set in the overlay then); operators use the admin API",
    "MFA_VENDOR_VALUE": "goes with MFA_VENDOR_CLAIM",
    "MFA_VENDOR_UNBOUND": "off: a vendor token acts only in the tenant it names",
    "MFA_VENDOR_ACCEPTS_INTERNAL_KEY": "off: the internal API key works only on /internal/ "
                                       "routes, never on the publicly routed vendor routes",
    "MFA_WEBHOOK_URLS": "no security-event endpoints until the deployment names them (set in "
                        "the overlay, with MFA_WEBHOOK_SECRET in the secret)",
    "MFA_WEBHOOK_SECRET": "goes with MFA_WEBHOOK_URLS",
    "MFA_WEBHOOK_TIMEOUT": "design default (5 s)",
    "MFA_WEBHOOK_MAX_BACKOFF": "design default (10 min)",
    "MFA_CONSOLE": "the support console is on (on the operators' internal side only)",
    "MFA_CONSOLE_OIDC_SCOPES": "openid profile: the console reads the ID token's claims",
    "MFA_CONSOLE_ROLES_CLAIM": "the IdP claim default (roles); set per deployment if yours "
                               "differs",
    "MFA_CONSOLE_SUPPORT_ROLE": "the read-only role's default value (mfa-support)",
    "MFA_CONSOLE_ADMIN_ROLE": "the acting role's default value (mfa-admin)",
    "MFA_CONSOLE_IDLE_TIMEOUT": "design default (15 min without a request signs out)",
    "MFA_CONSOLE_MAX_AGE": "design default (8 h, a shift)",
    "MFA_NOTIFICATIONS": "off until the deployment has SMTP and turns user mails on",
    "MFA_AUDIT_RETENTION_DAYS": "0 (audit rows kept): the deployment's compliance rules decide",
    "MFA_OUTBOX_RETENTION_DAYS": "design default (30 days of delivered events)",
    "MFA_PRUNE_INTERVAL": "design default (the operators service prunes hourly)",
    "MFA_SMS_CODE_DIGITS": "design default (6)",
    "MFA_SMS_RESEND_COOLDOWN": "design default (30 s)",
    "MFA_SMS_USER_HOURLY_LIMIT": "design default (5 sends per user per hour)",
    "MFA_SMS_PHONE_HOURLY_LIMIT": "design default",
    "MFA_SMS_IP_HOURLY_LIMIT": "design default",
    "MFA_SMS_TENANT_HOURLY_LIMIT": "design default",
    "MFA_SMS_COUNTRY_BUDGETS": "no per-country SMS alert budget until the deployment knows "
                               "its traffic (set in the overlay then)",
    "MFA_SMS_PROVIDER_TIMEOUT": "10 s, under the gateway's MFA_UPSTREAM_TIMEOUT",
    "MFA_EMAIL_CODE_DIGITS": "design default (6)",
    "MFA_EMAIL_RESEND_COOLDOWN": "design default (30 s)",
    "MFA_EMAIL_USER_HOURLY_LIMIT": "design default (5 sends per user per hour)",
    "MFA_EMAIL_TENANT_HOURLY_LIMIT": "design default",
    "MFA_EMAIL_USER_HOURLY_CAP": "the old name of MFA_EMAIL_USER_HOURLY_LIMIT (still read, "
                                 "with a warning): never set it",
    "MFA_EMAIL_TENANT_HOURLY_CAP": "the old name of MFA_EMAIL_TENANT_HOURLY_LIMIT: never set it",
    "MFA_SMTP_TIMEOUT": "8 s, under the gateway's MFA_UPSTREAM_TIMEOUT",
    "MFA_EMAIL_SENDER_DOMAINS": "MFA_SMTP_FROM's domain: tenants send only from the "
                                "deployment's own domain unless the overlay approves others",
    "MFA_SMTP_CA_FILE": "the image's system CAs; a private relay's CA needs a mounted file",
    "MFA_TOTP_WINDOW": "design default (-1..+1 step)",
    "MFA_TOTP_MAX_DRIFT": "design default (a learned clock offset of at most 2 steps)",
    "MFA_TOTP_ENROLL_TTL": "default lifetime of a pending TOTP secret",
    "MFA_HOTP_LOOK_AHEAD": "design default (10 skipped button presses)",
    # Read as f"MFA_MAX_{KIND}_PER_USER" (registry Kind.cap_setting): one per capped kind.
    "MFA_MAX_": "design defaults: the registry's per-user caps (10 apps, 10 tokens, 5 phones, "
                "20 keys, 20 passkeys)",
    "MFA_WEBAUTHN_ATTESTATION": "design default (none)",
    "MFA_WEBAUTHN_TIMEOUT_MS": "default ceremony timeout (60 s)",
    "MFA_WEBAUTHN_DEMO": "off: a demo page has no place in a cluster",
    "MFA_WEBAUTHN_PASSKEY_CHALLENGES": "design default (10000 passkey login challenges per "
                                       "challenge lifetime); an overlay with more passkey "
                                       "logins per two minutes raises it",
    "MFA_EMBEDDED_PUBLIC": "embedded mode is development only; the cluster runs split",
    "MFA_READY_TIMEOUT": "1 s per upstream /readyz, under the readiness probe's 2 s timeout",
    "MFA_AUDIT_ADDRESS": "design default (an IPv4 address, or an IPv6 /64, per audit row)",
}

Obj = dict[str, Any]


# ---------------------------------------------------------------------------------------------
# tools


def _tools_missing(what: str) -> None:
    """Fail under MFA_REQUIRE_TOOLS=1 or MFA_TEST_STRICT=1 (CI), skip otherwise."""
    message = f"{what} not found; run scripts/ensure-k8s-tools"
    if "1" in (os.environ.get("MFA_REQUIRE_TOOLS"), os.environ.get("MFA_TEST_STRICT")):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def renderer() -> list[str] | None:
    """The command that renders a kustomization: MFA_KUBECTL, the venv's kubectl, kustomize or
    kubectl on PATH, in that order."""
    explicit = os.environ.get("MFA_KUBECTL")
    if explicit:
        return [explicit, "kustomize"]
    venv_kubectl = Path(sys.executable).parent / "kubectl"
    if venv_kubectl.is_file():
        return [str(venv_kubectl), "kustomize"]
    if kustomize := shutil.which("kustomize"):
        return [kustomize, "build"]
    if kubectl := shutil.which("kubectl"):
        return [kubectl, "kustomize"]
    return None


@functools.cache
def _render(overlay: str) -> tuple[Obj, ...]:
    import yaml

    command = renderer()
    assert command is not None
    if overlay == "dev":  # its Secret is generated locally, never committed
        subprocess.run([sys.executable, str(REPO / "scripts" / "dev-secret")], check=True,
                       capture_output=True, timeout=60)
    done = subprocess.run(
        [*command, str(K8S / "overlays" / overlay)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, f"rendering overlays/{overlay} failed:\n{done.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(done.stdout) if doc)


@pytest.fixture(params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> str:
    """Each overlay's name."""
    return str(request.param)


@pytest.fixture
def objs(overlay: str) -> tuple[Obj, ...]:
    """The objects the overlay renders to."""
    if renderer() is None:
        _tools_missing("kubectl or kustomize")
    try:
        import yaml  # noqa: F401
    except ImportError:
        _tools_missing("PyYAML")
    return _render(overlay)


# ---------------------------------------------------------------------------------------------
# helpers


def of_kind(objs: tuple[Obj, ...], kind: str) -> list[Obj]:
    """The objects of one kind."""
    return [o for o in objs if o["kind"] == kind]


def by_name(objs: tuple[Obj, ...], kind: str) -> dict[str, Obj]:
    """The objects of one kind by name."""
    return {o["metadata"]["name"]: o for o in of_kind(objs, kind)}


def workloads(objs: tuple[Obj, ...]) -> list[Obj]:
    """Deployments and Jobs: everything that runs pods."""
    return of_kind(objs, "Deployment") + of_kind(objs, "Job")


def pod_spec(workload: Obj) -> Obj:
    """A workload's pod spec."""
    return workload["spec"]["template"]["spec"]


def containers(workload: Obj) -> list[Obj]:
    """Every container of a workload's pods, init containers included."""
    spec = pod_spec(workload)
    return [*spec.get("initContainers", []), *spec["containers"]]


def is_mfa(obj: Obj) -> bool:
    """Whether the object belongs to the MFA service itself (not a dev datastore)."""
    return obj["metadata"].get("labels", {}).get("app.kubernetes.io/part-of") == "mfa"


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    """Whether matchLabels-style selector selects labels."""
    return all(labels.get(k) == v for k, v in selector.items())


def env_refs(workload: Obj) -> Iterator[tuple[str, str, Obj]]:
    """(container, kind, ref) for every configMapKeyRef/secretKeyRef and envFrom ref."""
    for c in containers(workload):
        for var in c.get("env", []):
            source = var.get("valueFrom", {})
            for kind in ("configMapKeyRef", "secretKeyRef"):
                if kind in source:
                    yield c["name"], kind, source[kind]
        for src in c.get("envFrom", []):
            for kind in ("configMapRef", "secretRef"):
                if kind in src:
                    yield c["name"], kind, src[kind]


def env_set(objs: tuple[Obj, ...], workload: Obj) -> set[str]:
    """The names of the variables set in a workload's containers (env and envFrom)."""
    names: set[str] = set()
    maps = by_name(objs, "ConfigMap")
    secrets = by_name(objs, "Secret")
    for c in containers(workload):
        names.update(var["name"] for var in c.get("env", []))
        for src in c.get("envFrom", []):
            if "configMapRef" in src:
                names.update(maps.get(src["configMapRef"]["name"], {}).get("data", {}))
            if "secretRef" in src:
                names.update(secrets.get(src["secretRef"]["name"], {}).get("data", {}))
    return names


def documented_secret_keys() -> dict[str, bool]:
    """The keys of mfa-secrets from deploy/k8s/secret-keys.txt: key -> required."""
    keys = {}
    for line in SECRET_KEYS_DOC.read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if fields and not fields[0].startswith("#"):
            keys[fields[0]] = fields[-1] == "required"
    return keys


def env_names_in_source(source: str) -> set[str]:
    """String literals that are whole MFA_* names (what the code reads from the environment)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:  # a file mid-edit: fall back to quoted literals
        return set(re.findall(r"""["'](MFA_[A-Z0-9_]+)["']""", source))
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and ENV_NAME.fullmatch(node.value)
    }


def env_names_read(folder: str) -> dict[str, set[str]]:
    """MFA_* names read under a code folder: name -> files reading it."""
    found: dict[str, set[str]] = {}
    root = REPO / folder
    if not root.is_dir():
        return found
    for path in sorted(root.rglob("*.py")):
        for name in env_names_in_source(path.read_text(encoding="utf-8")):
            found.setdefault(name, set()).add(str(path.relative_to(REPO)))
    return found


def prestop_sleep(container: Obj) -> float:
    """Seconds the container's preStop hook sleeps (0 without one)."""
    pre = container.get("lifecycle", {}).get("preStop", {})
    if "sleep" in pre:
        return float(pre["sleep"]["seconds"])
    command = pre.get("exec", {}).get("command", [])
    if command[:1] == ["sleep"]:
        return float(command[1])
    return 0.0


# ---------------------------------------------------------------------------------------------
# rendering and schemas


def test_overlay_renders_every_part(objs: tuple[Obj, ...]) -> None:
    deployments = by_name(objs, "Deployment")
    for part in PARTS:
        assert part in deployments, f"no Deployment {part}"
        assert part in by_name(objs, "Service"), f"no Service {part}"
        assert part in by_name(objs, "ServiceAccount"), f"no ServiceAccount {part}"
        assert part in by_name(objs, "HorizontalPodAutoscaler"), f"no HPA {part}"
        assert part in by_name(objs, "PodDisruptionBudget"), f"no PDB {part}"
    assert MIGRATE_JOB in by_name(objs, "Job")
    assert "gateway" in by_name(objs, "Ingress")
    assert len(of_kind(objs, "ConfigMap")) == 1


def test_every_object_validates_against_kubernetes_schemas(objs: tuple[Obj, ...]) -> None:
    try:
        import kubernetes_validate
    except ImportError:
        _tools_missing("kubernetes-validate")
    failures = []
    for obj in objs:
        name = f"{obj['kind']}/{obj['metadata']['name']}"
        try:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            failures.append(f"{name}: {'.'.join(map(str, e.path))}: {e.message}")
        except kubernetes_validate.SchemaNotFoundError as e:
            failures.append(f"{name}: {e.message}")
    assert not failures, "\n".join(failures)


def test_everything_is_namespaced_by_the_overlay(objs: tuple[Obj, ...], overlay: str) -> None:
    namespaces = [o["metadata"]["name"] for o in of_kind(objs, "Namespace")]
    assert len(namespaces) == 1
    labels = of_kind(objs, "Namespace")[0]["metadata"].get("labels", {})
    assert labels.get("pod-security.kubernetes.io/enforce") == "restricted"
    for obj in objs:
        if obj["kind"] != "Namespace":
            assert obj["metadata"].get("namespace") == namespaces[0], obj["metadata"]["name"]


# ---------------------------------------------------------------------------------------------
# cross-references


def test_every_service_selects_one_deployment_on_a_named_port(objs: tuple[Obj, ...]) -> None:
    deployments = of_kind(objs, "Deployment")
    for svc in of_kind(objs, "Service"):
        name = svc["metadata"]["name"]
        selector = svc["spec"]["selector"]
        selected = [d for d in deployments
                    if matches(selector, d["spec"]["template"]["metadata"]["labels"])]
        assert len(selected) == 1, f"Service {name} selects {len(selected)} Deployments"
        ports = {p["name"] for c in containers(selected[0]) for p in c.get("ports", [])}
        for port in svc["spec"]["ports"]:
            target = port.get("targetPort")
            assert isinstance(target, str), f"Service {name} targets a number, not a name"
            assert target in ports, f"Service {name} targets missing port {target!r}"


def test_every_deployment_selector_matches_its_own_pods(objs: tuple[Obj, ...]) -> None:
    for d in of_kind(objs, "Deployment"):
        assert matches(d["spec"]["selector"]["matchLabels"],
                       d["spec"]["template"]["metadata"]["labels"]), d["metadata"]["name"]


def test_every_hpa_and_pdb_targets_an_existing_deployment(objs: tuple[Obj, ...]) -> None:
    deployments = by_name(objs, "Deployment")
    for hpa in of_kind(objs, "HorizontalPodAutoscaler"):
        ref = hpa["spec"]["scaleTargetRef"]
        assert ref["kind"] == "Deployment" and ref["name"] in deployments, hpa["metadata"]
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
        assert "replicas" not in deployments[ref["name"]]["spec"], (
            f"Deployment {ref['name']} sets replicas: every apply would fight its autoscaler")
    for pdb in of_kind(objs, "PodDisruptionBudget"):
        selector = pdb["spec"]["selector"]["matchLabels"]
        selected = [d for d in deployments.values()
                    if matches(selector, d["spec"]["template"]["metadata"]["labels"])]
        assert len(selected) == 1, f"PDB {pdb['metadata']['name']} selects {len(selected)}"
    autoscaled = {h["spec"]["scaleTargetRef"]["name"]
                  for h in of_kind(objs, "HorizontalPodAutoscaler")}
    assert autoscaled == set(PARTS)


def test_ingress_routes_to_the_gateway_only(objs: tuple[Obj, ...]) -> None:
    """The public ingress reaches the gateway only; the console's internal ingress (another
    class) reaches the operators Service under /internal/console only."""
    services = by_name(objs, "Service")
    for ing in of_kind(objs, "Ingress"):
        internal = ing["metadata"]["name"] == "operators-console"
        if internal:
            assert ing["spec"]["ingressClassName"] != by_name(objs, "Ingress")["gateway"][
                "spec"]["ingressClassName"]
        for rule in ing["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                assert backend["name"] == ("operators" if internal else "gateway")
                if internal:
                    assert path["path"] == "/internal/console"
                port_names = {p["name"] for p in services[backend["name"]]["spec"]["ports"]}
                assert backend["port"]["name"] in port_names


def test_probes_use_only_paths_the_app_serves(objs: tuple[Obj, ...]) -> None:
    for w in workloads(objs):
        for c in containers(w):
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                http = c.get(probe, {}).get("httpGet")
                if http:
                    assert http["path"] in PROBE_PATHS, f"{w['metadata']['name']} {probe}"
    for part in PARTS:
        server = containers(by_name(objs, "Deployment")[part])[0]
        assert server["readinessProbe"]["httpGet"]["path"] == READINESS_PATH, part
        assert server["livenessProbe"]["httpGet"]["path"] == LIVENESS_PATH, part


def test_every_key_reference_names_a_defined_key(objs: tuple[Obj, ...]) -> None:
    maps = by_name(objs, "ConfigMap")
    secrets = by_name(objs, "Secret")
    documented = documented_secret_keys()
    for w in workloads(objs):
        where = w["metadata"]["name"]
        for container, kind, ref in env_refs(w):
            at = f"{where}/{container}: {kind} {ref['name']}"
            if kind == "configMapKeyRef":
                assert ref["name"] in maps, f"{at}: no such ConfigMap"
                assert ref["key"] in maps[ref["name"]].get("data", {}), f"{at}: no key"
            elif kind == "configMapRef":
                assert ref["name"] in maps, f"{at}: no such ConfigMap"
            elif kind == "secretKeyRef":
                if ref["name"] in secrets:  # rendered (dev): the key must be in it
                    data = {**secrets[ref["name"]].get("data", {}),
                            **secrets[ref["name"]].get("stringData", {})}
                    assert ref["key"] in data or ref.get("optional"), f"{at}: no key {ref['key']}"
                if ref["name"].startswith(SECRET_NAME):
                    assert ref["key"] in documented, f"{at}: key {ref['key']} not in secret-keys"
                    if documented[ref["key"]]:
                        assert not ref.get("optional"), f"{at}: required key marked optional"
                else:
                    assert ref["name"] in secrets, f"{at}: undocumented Secret"
            else:
                pytest.fail(f"{at}: envFrom a Secret hides which keys are used")


def test_every_setting_the_code_reads_is_set_or_defaulted(objs: tuple[Obj, ...]) -> None:
    deployments = by_name(objs, "Deployment")
    set_in = {name: env_set(objs, d) for name, d in deployments.items()}
    set_anywhere = set().union(*(env_set(objs, w) for w in workloads(objs) if is_mfa(w)))
    missing = []
    for part, folder in PARTS.items():
        for name, files in sorted(env_names_read(folder).items()):
            if name not in set_in[part] and name not in DEFAULTED_ENV:
                missing.append(f"{name} (read in {', '.join(sorted(files))}) not set in {part}")
    for name, files in sorted(env_names_read("shared").items()):
        if name not in set_anywhere and name not in DEFAULTED_ENV:
            missing.append(f"{name} (read in {', '.join(sorted(files))}) set nowhere")
    assert not missing, (
        "set these in deploy/k8s (config.env + the Deployment) or add them to DEFAULTED_ENV "
        "with a reason:\n" + "\n".join(missing))


def test_defaulted_settings_are_not_also_set(objs: tuple[Obj, ...]) -> None:
    set_anywhere = set().union(*(env_set(objs, w) for w in workloads(objs) if is_mfa(w)))
    both = sorted(set(DEFAULTED_ENV) & set_anywhere)
    assert not both, f"set in the manifests, so not defaulted: {both}"


def test_env_scan_finds_whole_literals_only() -> None:
    source = (
        'import os\nA = os.environ.get("MFA_REDIS_URL")\n'
        'B = env_int(e, "MFA_PORT", 8080)\n'
        'C = f"MFA_{name.upper()}_URL"\n'
        'raise ValueError("MFA_HMAC_KEY must be at least 16 bytes")\n'
    )
    assert env_names_in_source(source) == {"MFA_REDIS_URL", "MFA_PORT"}


def test_the_gateway_holds_no_secret(objs: tuple[Obj, ...]) -> None:
    gateway = by_name(objs, "Deployment")["gateway"]
    kinds = {kind for _, kind, _ in env_refs(gateway)}
    assert "secretKeyRef" not in kinds and "secretRef" not in kinds


# ---------------------------------------------------------------------------------------------
# security and lifecycle


def test_every_pod_runs_locked_down(objs: tuple[Obj, ...]) -> None:
    for w in workloads(objs):
        name = w["metadata"]["name"]
        spec = pod_spec(w)
        pod_sc = spec.get("securityContext", {})
        assert spec.get("automountServiceAccountToken") is False, name
        assert spec.get("serviceAccountName") in by_name(objs, "ServiceAccount"), name
        for c in containers(w):
            sc = c.get("securityContext", {})
            at = f"{name}/{c['name']}"
            assert sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True, at
            assert sc.get("runAsUser", pod_sc.get("runAsUser", 1)) != 0, at
            assert sc.get("readOnlyRootFilesystem") is True, at
            assert sc.get("allowPrivilegeEscalation") is False, at
            assert not sc.get("privileged"), at
            assert "ALL" in sc.get("capabilities", {}).get("drop", []), at
            assert not sc.get("capabilities", {}).get("add"), at
            seccomp = sc.get("seccompProfile", pod_sc.get("seccompProfile", {}))
            assert seccomp.get("type") == "RuntimeDefault", at
            resources = c.get("resources", {})
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(bound, {})), f"{at} {bound}"


def test_mfa_pods_have_a_writable_tmp_and_scrape_annotations(objs: tuple[Obj, ...]) -> None:
    for w in workloads(objs):
        if not is_mfa(w):
            continue
        volumes = {v["name"]: v for v in pod_spec(w).get("volumes", [])}
        for c in containers(w):
            mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
            assert "/tmp" in mounts, w["metadata"]["name"]
            assert "emptyDir" in volumes[mounts["/tmp"]]
    config = of_kind(objs, "ConfigMap")[0].get("data", {})
    for part in PARTS:
        deployment = by_name(objs, "Deployment")[part]
        annotations = deployment["spec"]["template"]["metadata"].get("annotations", {})
        assert annotations.get("prometheus.io/scrape") == "true", part
        assert annotations.get("prometheus.io/path") == "/metrics", part
        port = annotations.get("prometheus.io/port")
        declared = {str(p["containerPort"]) for p in containers(deployment)[0]["ports"]}
        assert port in declared, f"{part} is scraped on {port}, which it does not declare"
        # The gateway's 8080 is public and never serves /metrics: its own listener does.
        expected = config.get("MFA_METRICS_PORT") if part == "gateway" else "8080"
        assert port == expected and (part != "gateway" or port != "8080"), part


def test_dev_redis_keeps_an_append_only_file_on_a_volume(objs: tuple[Obj, ...],
                                                        overlay: str) -> None:
    if overlay != "dev":
        return
    redis = by_name(objs, "Deployment")["redis"]
    server = containers(redis)[0]
    args = [*server.get("command", []), *server.get("args", [])]
    flags = {args[i]: args[i + 1] for i in range(len(args) - 1) if args[i].startswith("--")}
    # Without the AOF a Redis restart resets every lockout and send counter.
    assert flags.get("--appendonly") == "yes" and flags.get("--appendfsync") == "everysec"
    mounts = {m["mountPath"]: m["name"] for m in server.get("volumeMounts", [])}
    data = flags.get("--dir", "/data")
    assert data in mounts, f"the AOF directory {data} is not a volume"
    volume = {v["name"]: v for v in pod_spec(redis)["volumes"]}[mounts[data]]
    claim = volume.get("persistentVolumeClaim", {}).get("claimName")
    assert claim in by_name(objs, "PersistentVolumeClaim"), "the AOF must outlive the pod"


def _bytes(quantity: str) -> int:
    units = {"kb": 1000, "mb": 1000**2, "gb": 1000**3, "Ki": 1024, "Mi": 1024**2,
             "Gi": 1024**3}
    for unit, factor in units.items():
        if quantity.endswith(unit):
            return int(quantity[:-len(unit)]) * factor
    return int(quantity)


def test_dev_redis_never_evicts_and_refuses_writes_before_its_memory_limit(
        objs: tuple[Obj, ...], overlay: str) -> None:
    if overlay != "dev":
        return
    server = containers(by_name(objs, "Deployment")["redis"])[0]
    args = [*server.get("command", []), *server.get("args", [])]
    flags = {args[i]: args[i + 1] for i in range(len(args) - 1) if args[i].startswith("--")}
    # Eviction would drop lockout counters and used-code markers under a flood of requests.
    assert flags.get("--maxmemory-policy") == "noeviction"
    limit = server["resources"]["limits"]["memory"]
    assert 0 < _bytes(flags["--maxmemory"]) < _bytes(limit), (flags, limit)


def test_shutdown_drains_before_the_kill(objs: tuple[Obj, ...]) -> None:
    config = of_kind(objs, "ConfigMap")[0].get("data", {})
    grace = float(config.get("MFA_SHUTDOWN_GRACE") or DEFAULT_SHUTDOWN_GRACE)
    for part in PARTS:
        d = by_name(objs, "Deployment")[part]
        server = containers(d)[0]
        sleep = prestop_sleep(server)
        assert sleep > 0, f"{part}: no preStop sleep; endpoints would not drain first"
        budget = pod_spec(d).get("terminationGracePeriodSeconds", 30)
        assert budget > sleep + grace, f"{part}: {budget}s <= preStop {sleep}s + drain {grace}s"


def test_network_policies_deny_by_default(objs: tuple[Obj, ...]) -> None:
    policies = of_kind(objs, "NetworkPolicy")
    deny = [p for p in policies
            if p["spec"]["podSelector"] == {}
            and set(p["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
            and not p["spec"].get("ingress") and not p["spec"].get("egress")]
    assert deny, "no deny-all NetworkPolicy"
    pods = [d["spec"]["template"]["metadata"]["labels"] for d in of_kind(objs, "Deployment")]
    for p in policies:
        selector = p["spec"]["podSelector"]
        if "matchLabels" in selector:
            assert any(matches(selector["matchLabels"], labels) for labels in pods), (
                f"NetworkPolicy {p['metadata']['name']} selects no pod")


def test_only_dev_renders_a_secret_and_it_says_dev_only(
        objs: tuple[Obj, ...], overlay: str) -> None:
    secrets = of_kind(objs, "Secret")
    if overlay != "dev":
        assert not secrets, "the Secret is created out of band, never rendered outside dev"
        return
    assert secrets
    for s in secrets:
        assert s["metadata"].get("labels", {}).get("mfa.example.com/dev-only") == "true"
    generated = [s for s in secrets if s["metadata"]["name"].startswith(SECRET_NAME)]
    assert len(generated) == 1
    assert set(generated[0]["data"]) <= set(documented_secret_keys())


def test_readme_documents_every_secret_key() -> None:
    readme = (REPO / "deploy" / "README.md").read_text(encoding="utf-8")
    for key in documented_secret_keys():
        assert f"`{key}`" in readme, f"deploy/README.md does not describe {key}"


def test_dev_secret_values_have_the_formats_the_code_parses() -> None:
    if renderer() is None:
        _tools_missing("kubectl or kustomize")
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    secret = next(s for s in of_kind(_render("dev"), "Secret")
                  if s["metadata"]["name"].startswith(SECRET_NAME))
    value = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    key = serialization.load_pem_private_key(value["jwt-private-key"].encode(), password=None)
    assert isinstance(key, Ed25519PrivateKey), "the service signs EdDSA"
    assert len(base64.b64decode(value["hmac-key"], validate=True)) >= 16
    for item in value["encryption-keys"].split(","):
        kid, _, b64 = item.partition(":")
        assert kid and len(base64.b64decode(b64, validate=True)) == 32
    assert value["database-url"].startswith("postgresql://")
    assert value["redis-url"].startswith(("redis://", "rediss://"))
