"""The operators Deployment: in from the gateway (its public Frontegg routes) and from pods
labelled as operator tooling (the admin API), never from the public ingress controller (the
internal one only where the support console's internal Ingress is rendered); out to the
datastores and the webhook receivers."""

from __future__ import annotations

from typing import Any

from tests.deploy.test_manifests import Obj, by_name, objs, of_kind, overlay

__all__ = ["objs", "overlay"]  # the fixtures: every overlay's rendered objects

TOOLS_LABEL = {"mfa.example.com/operator-tools": "true"}
OPERATORS = {"app": "operators", "app.kubernetes.io/part-of": "mfa"}
PROMETHEUS = "monitoring"  # components/network-policies/prometheus.yaml
CONSOLE_INGRESS = "ingress-nginx-internal"  # components/console-ingress


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A pod selector (matchLabels and In expressions) against pod labels."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    return all(labels.get(e["key"]) in e["values"] for e in selector.get("matchExpressions", [])
               if e["operator"] == "In")


def ingress_peers(objs: tuple[Obj, ...]) -> list[dict[str, Any]]:
    """Every `from` peer of the policies that select the operators' pods."""
    return [peer for p in of_kind(objs, "NetworkPolicy")
            if selects(p["spec"]["podSelector"], OPERATORS)
            for rule in p["spec"].get("ingress", []) for peer in rule.get("from", [])]


def test_operators_take_requests_from_the_gateway_and_labelled_tools_only(
        objs: tuple[Obj, ...]) -> None:
    peers = ingress_peers(objs)
    assert {"podSelector": {"matchLabels": {"app": "gateway"}}} in peers
    assert {"namespaceSelector": {}, "podSelector": {"matchLabels": TOOLS_LABEL}} in peers
    for peer in peers:
        namespaces = peer.get("namespaceSelector", {}).get("matchLabels", {})
        assert "ingress-nginx" not in namespaces.values(), peer
        assert "ipBlock" not in peer, peer
        if namespaces.get("kubernetes.io/metadata.name") == PROMETHEUS:
            continue  # scrapes /metrics (the admin API still wants the internal API key)
        if namespaces.get("kubernetes.io/metadata.name") == CONSOLE_INGRESS:
            assert "operators-console" in by_name(objs, "Ingress"), peer
            continue  # routes /internal/console only (test_manifests checks the Ingress)
        if "namespaceSelector" in peer:  # another namespace: only with the explicit label
            assert peer.get("podSelector", {}).get("matchLabels") == TOOLS_LABEL, peer


def test_operators_reach_the_datastores_and_webhook_receivers(objs: tuple[Obj, ...]) -> None:
    ports = {port["port"] for p in of_kind(objs, "NetworkPolicy")
             if selects(p["spec"]["podSelector"], OPERATORS)
             for rule in p["spec"].get("egress", []) for port in rule.get("ports", [])}
    assert {5432, 6379, 443} <= ports
