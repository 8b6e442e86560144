"""The layout's rules, read from the code: `shared/` imports neither `services/` nor
`gateway/`, only `shared/http/` speaks HTTP, and no service imports another."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> set[str]:
    """Every module a file imports (absolute names; lazy imports inside functions too)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def _files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def test_the_scan_sees_imports_inside_functions(tmp_path: Path) -> None:
    f = tmp_path / "m.py"
    f.write_text("def f():\n    from services.sms import phone\n", encoding="utf-8")
    assert "services.sms" in _imports(f)


@pytest.mark.parametrize("path", _files("shared"), ids=lambda p: str(p.relative_to(ROOT)))
def test_shared_imports_neither_services_nor_gateway(path: Path) -> None:
    bad = {m for m in _imports(path) if m.split(".")[0] in ("services", "gateway")}
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_only_the_http_kit_in_shared_speaks_http() -> None:
    speaking = [str(p.relative_to(ROOT)) for p in _files("shared")
                if any(m.split(".")[0] == "aiohttp" for m in _imports(p))]
    assert speaking and all(p.startswith("shared/http/") for p in speaking), speaking


def test_no_service_imports_another() -> None:
    found = []
    for p in _files("services"):
        own = p.relative_to(ROOT / "services").parts[0]
        for m in _imports(p):
            parts = m.split(".")
            if parts[0] == "services" and len(parts) > 1 and parts[1] != own:
                found.append(f"{p.relative_to(ROOT)} -> {m}")
    assert not found, found


def test_every_service_has_the_same_module_shape() -> None:
    for service in sorted(p for p in (ROOT / "services").iterdir() if (p / "app.py").exists()):
        names = {p.stem for p in service.glob("*.py")} | {p.name for p in service.iterdir()
                                                          if p.is_dir()}
        assert {"__main__", "app", "handlers", "schemas"} <= names, service.name
