"""Responses checked against what their route declares in the gateway's OpenAPI document:
a success against the route's response schema, an error against Frontegg's envelope. The
response schemas are made strict here (no undeclared field), so a schema that forgets a field
the route answers fails the test that saw it."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema_rs

ENVELOPE_REF = "#/components/schemas/ErrorEnvelope"


def assert_envelope(body: Any, code_prefix: str = "ER-") -> None:
    """Frontegg's error envelope: a list of messages and an error code."""
    assert isinstance(body, dict), body
    assert isinstance(body["errors"], list) and body["errors"] and all(
        isinstance(m, str) and m for m in body["errors"])
    assert body["errorCode"].startswith(code_prefix)


def strict_responses(doc: dict[str, Any]) -> dict[str, Any]:
    """A copy of the document whose response schemas (and what they nest) refuse undeclared
    properties; request schemas stay as served (unknown input fields are ignored)."""
    doc = copy.deepcopy(doc)
    schemas = doc.get("components", {}).get("schemas", {})
    todo = [resp for ops in doc["paths"].values() for op in ops.values()
            for resp in op.get("responses", {}).values()]
    seen: set[int] = set()
    while todo:
        node = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, list):
            todo.extend(node)
        elif isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
                todo.append(schemas[ref.rsplit("/", 1)[1]])
            if "properties" in node and node.get("type") == "object":
                node.setdefault("additionalProperties", False)
            todo.extend(node.values())
    return doc


class ResponseChecker:
    """Finds the operation of a request in the OpenAPI document and checks its response."""

    def __init__(self, doc: dict[str, Any], mount_prefix: str) -> None:
        self.doc = strict_responses(doc)
        self._prefix = mount_prefix
        self._ops = [(method.upper(), path.strip("/").split("/"), op)
                     for path, ops in self.doc["paths"].items() for method, op in ops.items()]
        self._validators: dict[str, Any] = {}

    def operation(self, method: str, path: str) -> dict[str, Any] | None:
        """The operation serving method + path: the template with the most literal segments
        wins, as aiohttp's routers (literal routes are registered before {param} ones)."""
        path = path.split("?", 1)[0]
        if self._prefix and (path == self._prefix or path.startswith(self._prefix + "/")):
            path = path[len(self._prefix):]
        parts = path.strip("/").split("/")
        best: tuple[int, dict[str, Any]] | None = None
        for m, template, op in self._ops:
            if m != method.upper() or len(template) != len(parts):
                continue
            if all(t == p or (t.startswith("{") and t.endswith("}") and p)
                   for t, p in zip(template, parts, strict=True)):
                literal = sum(not t.startswith("{") for t in template)
                if best is None or literal > best[0]:
                    best = (literal, op)
        return best[1] if best else None

    def problems(self, method: str, path: str, status: int, content_type: str,
                 body: Any) -> list[str]:
        """What is wrong with a response (empty when it matches its declaration)."""
        if status >= 400:
            if not content_type.startswith("application/json"):
                return [f"{status} is not the JSON error envelope ({content_type})"]
            return self._validate(ENVELOPE_REF, body)
        op = self.operation(method, path)
        if op is None:
            return []  # not a public route (health, internal API, demo assets)
        declared = op["responses"].get(str(status))
        if declared is None:
            return [f"status {status} is not declared for {method} {path}"]
        content = declared.get("content")
        if not content:
            return []
        media, spec = next(iter(content.items()))
        if not content_type.startswith(media):
            return [f"content type {content_type!r}, declared {media!r}"]
        if media != "application/json":
            return []
        ref = spec["schema"].get("$ref")
        return self._validate(ref, body) if ref else []

    def _validate(self, ref: str, body: Any) -> list[str]:
        if ref not in self._validators:
            root = {"$ref": ref, "components": self.doc["components"]}
            self._validators[ref] = jsonschema_rs.Draft202012Validator(root)
        errors = self._validators[ref].iter_errors(body)
        return [f"/{'/'.join(map(str, e.instance_path))}: {e.message}" for e in errors]
