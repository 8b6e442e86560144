"""deploy/monitoring: the alert rules pass `promtool check rules` and their unit tests
(`promtool test rules`, on series shaped like the service's /metrics), the PrometheusRule holds
the same groups, each alert has its runbook section, and every metric an alert or a dashboard
panel names is one the running service exports.

promtool comes from Debian's prometheus package (scripts/ensure-promtool, run by `make test`);
without it these tests skip, and fail under MFA_TEST_STRICT=1 (CI)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from shared.clock import FrozenClock
from tests.conftest import make_settings, split_stack, unavailable

REPO = Path(__file__).resolve().parents[2]
MONITORING = REPO / "deploy" / "monitoring"
RULES = MONITORING / "rules" / "mfa-alerts.yml"
UNIT_TESTS = MONITORING / "tests" / "mfa-alerts.test.yml"
DASHBOARD = MONITORING / "grafana" / "mfa-dashboard.json"
PROMETHEUS_RULE = REPO / "deploy" / "k8s" / "components" / "monitoring" / "prometheusrule.yaml"
RUNBOOK = REPO / "docs" / "runbook.md"
METRIC = re.compile(r"\b(mfa_[a-z0-9_]+)\b")
HISTOGRAM_SERIES = ("_bucket", "_sum", "_count")


def _promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        unavailable("promtool (scripts/ensure-promtool)")
    assert found is not None
    return found


def _alerts() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for g in groups for rule in g["rules"] if "alert" in rule]


def _dashboard_exprs() -> list[str]:
    dash = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    exprs += [v["query"]["query"] for v in dash["templating"]["list"] if v["type"] == "query"]
    return exprs


def test_rules_pass_promtool_check() -> None:
    out = subprocess.run([_promtool(), "check", "rules", str(RULES)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"SUCCESS: {len(_alerts())} rules found" in out.stdout + out.stderr


def test_rule_unit_tests_pass() -> None:
    out = subprocess.run([_promtool(), "test", "rules", str(UNIT_TESTS)], capture_output=True,
                         text=True, timeout=120, cwd=UNIT_TESTS.parent)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout + out.stderr


def test_every_alert_is_unit_tested_firing() -> None:
    tested = yaml.safe_load(UNIT_TESTS.read_text())["tests"]
    fired = {case["alertname"] for t in tested for case in t["alert_rule_test"]
             if case["exp_alerts"]}
    assert {a["alert"] for a in _alerts()} <= fired


def test_the_prometheus_rule_holds_the_same_groups() -> None:
    resource = yaml.safe_load(PROMETHEUS_RULE.read_text())
    assert resource["kind"] == "PrometheusRule"
    assert resource["apiVersion"] == "monitoring.coreos.com/v1"
    assert resource["spec"] == yaml.safe_load(RULES.read_text())


def test_every_alert_has_its_runbook_section() -> None:
    headings = {line[3:].strip() for line in RUNBOOK.read_text().splitlines()
                if line.startswith("## ")}
    for alert in _alerts():
        assert alert["alert"] in headings, f"docs/runbook.md has no section {alert['alert']}"
        assert alert["annotations"]["runbook_url"] == \
            f"docs/runbook.md#{alert['alert'].lower()}"
        assert alert["labels"]["severity"] in ("warning", "critical")


def test_the_dashboard_has_its_three_views() -> None:
    dash = json.loads(DASHBOARD.read_text())
    rows = [p["title"] for p in dash["panels"] if p["type"] == "row"]
    assert rows == ["Overview", "Per factor", "Per tenant"]
    assert {v["name"] for v in dash["templating"]["list"]} >= {"datasource", "factor", "tenant"}
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))


def _exported(text: str) -> set[str]:
    """The series names a /metrics page can have, from its TYPE lines."""
    names: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            names.add(name)
            if kind == "histogram":
                names.update(name + s for s in HISTOGRAM_SERIES)
    return names


async def test_every_metric_named_is_exported(aiohttp_server: Any, keys: dict[str, str],
                                              pg_url: str, redis_url: str) -> None:
    named: set[str] = set()
    for text in [a["expr"] for a in _alerts()] + _dashboard_exprs():
        named.update(METRIC.findall(text))
    assert len(named) >= 12  # the scan found the names (not an empty pass)
    settings = make_settings(keys, MFA_DATABASE_URL=pg_url, MFA_REDIS_URL=redis_url)
    exported: set[str] = set()
    async with aiohttp.ClientSession() as http, \
            split_stack(aiohttp_server, settings, FrozenClock(), http) as st:
        for name, url in st.upstreams.items():
            async with http.get(url + "/metrics") as r:
                assert r.status == 200, name
                exported |= _exported(await r.text())
    missing = sorted(named - exported)
    assert not missing, f"named by an alert or panel but not exported: {missing}"


def test_the_metric_scan_reads_names() -> None:
    assert METRIC.findall('sum by (le) (rate(mfa_http_request_duration_seconds_bucket[5m])) '
                          '/ on() mfa_ready{service="totp"}') == [
        "mfa_http_request_duration_seconds_bucket", "mfa_ready"]
    assert _exported("# TYPE mfa_x histogram\n# TYPE mfa_y_total counter\n") == {
        "mfa_x", "mfa_x_bucket", "mfa_x_sum", "mfa_x_count", "mfa_y_total"}
