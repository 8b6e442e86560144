"""deploy/docker/Dockerfile and .dockerignore, read statically (no Docker engine runs here)."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "deploy" / "docker" / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
BUILD_TOOLS = ("apt-get", "build-essential", "gcc", "pip install")


def stages() -> list[list[str]]:
    """The Dockerfile's instructions (continuations joined, comments dropped) per stage."""
    lines: list[str] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pending += line[:-1] + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            lines.append(pending)
            pending = ""
    result: list[list[str]] = []
    for line in lines:
        if line.upper().startswith("FROM "):
            result.append([])
        if result:
            result[-1].append(line)
    return result


def ignored(path: str) -> bool:
    """Whether .dockerignore keeps path out of the build context (last matching rule wins)."""
    verdict = False
    for raw in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        rule = raw.strip()
        if not rule or rule.startswith("#"):
            continue
        negate = rule.startswith("!")
        pattern = rule.lstrip("!").rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        hit = any(fnmatch.fnmatch(p, pattern) for p in prefixes)
        if pattern.startswith("**/"):
            hit = hit or any(fnmatch.fnmatch(part, pattern[3:]) for part in parts)
        if hit:
            verdict = not negate
    return verdict


def test_the_image_is_multi_stage_on_python_311_slim() -> None:
    all_stages = stages()
    assert len(all_stages) >= 2
    assert all_stages[0][0].endswith("AS builder")
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim", text, re.M)
    assert all_stages[-1][0] == "FROM ${PYTHON_IMAGE}"


def test_the_final_stage_has_no_build_tools_and_a_numeric_user() -> None:
    final = stages()[-1]
    body = "\n".join(final)
    for tool in BUILD_TOOLS:
        assert tool not in body, f"{tool} in the final stage"
    copies = [line for line in final if line.startswith("COPY")]
    assert copies and all(line.startswith("COPY --from=builder /opt/venv") for line in copies)
    users = [line.split()[1] for line in final if line.startswith("USER ")]
    assert users, "no USER in the final stage"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() or re.fullmatch(r"\$\{?UID\}?", uid)
    assert re.search(r"ARG UID=[1-9]\d{3,}", body)
    assert "PYTHONDONTWRITEBYTECODE=1" in body
    assert final[-1] == 'CMD ["python", "-m", "gateway"]'


def test_the_builder_installs_pinned_requirements_without_deps() -> None:
    builder = "\n".join(stages()[0])
    assert "pip install --no-deps -r requirements.txt" in builder
    assert "pip install --no-deps ." in builder
    # What --no-deps cannot see, checked on the image's own Python before it ships.
    assert "pip check" in builder


def test_dockerignore_keeps_out_state_tests_and_caches() -> None:
    for path in (".git/config", ".venv/bin/python", "var/mfa.sqlite", "tests/deploy/x.py",
                 "tests/contract/js/node_modules/a.js", "gateway/__pycache__/app.pyc",
                 ".pytest_cache/x", ".mypy_cache/x", ".ruff_cache/x", ".env",
                 "deploy/k8s/components/dev-datastores/generated/jwt-private-key.pem"):
        assert ignored(path), path


def test_dockerignore_lets_in_what_the_dockerfile_copies() -> None:
    for path in ("requirements.txt", "pyproject.toml", "README.md", "gateway/app.py",
                 "services/totp/app.py", "shared/stores/migrations/0001_core.up.sql"):
        assert not ignored(path), path
