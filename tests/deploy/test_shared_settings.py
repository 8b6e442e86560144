"""A setting more than one process reads is set on every Deployment whose process reads it,
or (a design default) on none of them and read through shared/settings.py's one reader, so
two parts never run on two values (the SMS code lifetime that sms uses and operators reports).

Which process reads what is derived from the code as test_manifests.py does it (the MFA_*
literals under each part's folder), plus the Settings fields each part uses (`settings.x`,
`stores.settings.x`, `app[SETTINGS].x`); a field the shared kit uses (shared/, the Stores
bundle every service builds) counts as read by every service."""

from __future__ import annotations

import ast
import functools

from shared.settings import Settings
from tests.deploy.test_manifests import (
    DEFAULTED_ENV,
    PARTS,
    REPO,
    Obj,
    by_name,
    env_names_in_source,
    env_names_read,
    env_set,
    objs,
    overlay,
)

__all__ = ["objs", "overlay"]  # the fixtures: every overlay's rendered objects

SETTINGS_MODULE = REPO / "shared" / "settings.py"
SERVICES = tuple(p for p in PARTS if p != "gateway")  # what the shared kit runs in


@functools.cache
def settings_fields() -> dict[str, str]:
    """Settings field -> the MFA_* name Settings.from_env reads it from."""
    fields = {}
    for node in ast.walk(ast.parse(SETTINGS_MODULE.read_text(encoding="utf-8"))):
        if isinstance(node, ast.keyword) and node.arg and isinstance(node.value, ast.Call):
            names = env_names_in_source(ast.unparse(node.value))
            if len(names) == 1:
                fields[node.arg] = names.pop()
    return fields


def _is_settings(node: ast.expr) -> bool:
    """`settings`, `s`, `<x>.settings` or `<x>[SETTINGS]`: the Settings object."""
    if isinstance(node, ast.Name):
        return node.id in ("settings", "s")
    if isinstance(node, ast.Attribute):
        return node.attr == "settings"
    return isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Name) \
        and node.slice.id == "SETTINGS"


def settings_used(folder: str) -> set[str]:
    """MFA_* names of the Settings fields the code under a folder uses."""
    fields = settings_fields()
    used = set()
    for path in sorted((REPO / folder).rglob("*.py")):
        if path == SETTINGS_MODULE:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in fields \
                    and _is_settings(node.value):
                used.add(fields[node.attr])
    return used


@functools.cache
def readers() -> dict[str, frozenset[str]]:
    """MFA_* name -> the parts (Deployments) whose process reads it."""
    found: dict[str, set[str]] = {}
    for part, folder in PARTS.items():
        for name in set(env_names_read(folder)) | settings_used(folder):
            found.setdefault(name, set()).add(part)
    for name in settings_used("shared"):
        found.setdefault(name, set()).update(SERVICES)
    return {name: frozenset(parts) for name, parts in found.items()}


def test_the_scan_finds_settings_read_through_the_settings_object() -> None:
    assert settings_fields()["sms_code_ttl"] == "MFA_SMS_CODE_TTL"
    assert settings_fields()["access_token_ttl"] == "MFA_ACCESS_TOKEN_TTL"
    assert set(settings_fields()) <= {f for f in Settings.__dataclass_fields__}
    r = readers()
    assert {"sms", "operators"} <= r["MFA_SMS_CODE_TTL"]
    assert {"email", "operators"} <= r["MFA_EMAIL_CODE_TTL"] & r["MFA_SMTP_FROM"]
    assert r["MFA_ACCESS_TOKEN_TTL"] >= set(SERVICES)


def test_a_setting_several_parts_read_is_set_on_every_one_of_them(
        objs: tuple[Obj, ...]) -> None:
    deployments = by_name(objs, "Deployment")
    set_in = {part: env_set(objs, deployments[part]) for part in PARTS}
    wrong = []
    for name, parts in sorted(readers().items()):
        if len(parts) < 2:
            continue
        unset = sorted(p for p in parts if name not in set_in[p])
        if not unset:
            continue
        if name in DEFAULTED_ENV and len(unset) == len(parts) \
                and name in settings_fields().values():
            continue  # one default, from the one reader, in every part
        wrong.append(f"{name} (read by {', '.join(sorted(parts))}) not set in "
                     f"{', '.join(unset)}")
    assert not wrong, ("set these on every Deployment that reads them (config.env and the "
                       "Deployments, or patches/service-settings.yaml for every service):\n"
                       + "\n".join(wrong))


def test_the_code_lifetimes_and_the_token_lifetime_are_set_where_they_are_read(
        objs: tuple[Obj, ...]) -> None:
    deployments = by_name(objs, "Deployment")
    for name in ("MFA_SMS_CODE_TTL", "MFA_EMAIL_CODE_TTL", "MFA_SMTP_FROM",
                 "MFA_ACCESS_TOKEN_TTL"):
        assert name not in DEFAULTED_ENV, name
        for part in readers()[name]:
            assert name in env_set(objs, deployments[part]), f"{name} not set in {part}"


def test_the_configured_values_pass_the_start_up_checks(objs: tuple[Obj, ...]) -> None:
    (config,) = [o for o in objs if o["kind"] == "ConfigMap"]
    Settings.from_env(config.get("data", {}))  # raises, naming the setting, when refused
