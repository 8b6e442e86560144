"""requirements.txt is the runtime's lock, installed with `pip install --no-deps` (the image
does): so it must hold every package the pinned packages need, for every Python the project
declares (pyproject's requires-python) and every platform it runs on, each with a marker that
holds wherever it is needed (a universal lock). What one interpreter's `pip check` cannot see:
redis-py needs async-timeout only below Python 3.11.3, which Debian's 3.11.2 is.

Each pinned package's requirements are read from its installed metadata (the dev venv installs
the lock); a pin whose marker is false for this interpreter is not installed here, and is
checked as a requirement of the others (its own requirements are not read)."""

from __future__ import annotations

import re
import subprocess
import tomllib
from functools import cache
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
LOCK = REPO / "requirements.txt"
PLATFORMS = (  # (sys_platform, platform_system, platform_machine): the image's and developers'
    ("linux", "Linux", "x86_64"), ("linux", "Linux", "aarch64"),
    ("darwin", "Darwin", "arm64"), ("darwin", "Darwin", "x86_64"),
)


@cache
def declared_pythons() -> list[str]:
    """Every CPython patch release inside pyproject's requires-python (up to .30, beyond any
    release a marker in the lock's tree names)."""
    spec = SpecifierSet(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
                        ["requires-python"])
    found = [f"3.{minor}.{patch}" for minor in range(8, 20) for patch in range(31)
             if Version(f"3.{minor}.{patch}") in spec]
    assert found, spec
    return found


def environments() -> list[dict[str, str]]:
    """The marker environments the lock must be right for."""
    envs = []
    for full in declared_pythons():
        for sys_platform, system, machine in PLATFORMS:
            envs.append({"python_full_version": full,
                         "python_version": ".".join(full.split(".")[:2]),
                         "implementation_name": "cpython",
                         "implementation_version": full,
                         "platform_python_implementation": "CPython",
                         "os_name": "posix", "sys_platform": sys_platform,
                         "platform_system": system, "platform_machine": machine,
                         "platform_release": "", "platform_version": "", "extra": ""})
    return envs


def pins(text: str) -> dict[str, tuple[Version, Marker | None]]:
    """The lock's `name==version [; marker]` lines by canonical name."""
    found: dict[str, tuple[Version, Marker | None]] = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        spec = list(req.specifier)
        assert len(spec) == 1 and spec[0].operator == "==", f"not pinned: {line}"
        name = canonicalize_name(req.name)
        assert name not in found, f"pinned twice: {name}"
        found[name] = (Version(spec[0].version), req.marker)
    return found


def requirements_of(name: str) -> list[Requirement] | None:
    """A pinned package's own requirements (from its installed metadata); None when it is
    not installed here."""
    try:
        dist = distribution(name)
    except PackageNotFoundError:
        return None
    return [Requirement(r) for r in dist.requires or []]


def problems(lock: dict[str, tuple[Version, Marker | None]],
             requires: dict[str, list[Requirement] | None]) -> list[str]:
    """What a --no-deps install of the lock would lack, per environment: a requirement whose
    marker holds there but whose package is not pinned for it, or pinned at a version it
    refuses."""
    found = []
    for env in environments():
        active = {n: v for n, (v, m) in lock.items() if m is None or m.evaluate(env)}
        for owner in active:
            for req in requires.get(owner) or []:
                if req.marker is not None and not req.marker.evaluate(env):
                    continue  # also drops every "extra == ..." requirement
                dep = canonicalize_name(req.name)
                where = f"Python {env['python_full_version']} on {env['sys_platform']}"
                if dep not in active:
                    found.append(f"{owner} needs {req} on {where}: not in the lock there")
                elif not req.specifier.contains(active[dep], prereleases=True):
                    found.append(f"{owner} needs {req} on {where}: the lock has {active[dep]}")
    return sorted(set(found))


def installed_requirements(lock: dict[str, tuple[Version, Marker | None]]
                           ) -> dict[str, list[Requirement] | None]:
    """Every pin's requirements, checking that what is installed is the pinned version."""
    result = {}
    for name, (version, marker) in lock.items():
        reqs = requirements_of(name)
        if reqs is None:
            assert marker is not None, f"{name} is pinned for every Python but not installed"
        else:
            assert Version(distribution(name).version) == version, name
        result[name] = reqs
    return result


def test_the_lock_holds_what_every_pin_needs_on_every_declared_python() -> None:
    lock = pins(LOCK.read_text(encoding="utf-8"))
    assert problems(lock, installed_requirements(lock)) == []


def test_the_check_sees_a_dependency_only_an_older_patch_release_needs() -> None:
    # redis-py's own marker: a lock checked only on this interpreter (3.11.7) would pass.
    lock = pins("redis==8.1.0\n")
    requires = {"redis": [Requirement('async-timeout>=4.0.3; python_full_version < "3.11.3"')]}
    assert problems(lock, requires) == sorted(
        f"redis needs async-timeout>=4.0.3; python_full_version < \"3.11.3\" on Python 3.11.{p}"
        f" on {plat}: not in the lock there" for p in range(3) for plat in ("darwin", "linux"))
    fixed = pins('redis==8.1.0\nasync-timeout==5.0.1 ; python_full_version < "3.11.3"\n')
    assert problems(fixed, {**requires, "async-timeout": []}) == []
    too_old = pins('redis==8.1.0\nasync-timeout==4.0.2 ; python_full_version < "3.11.3"\n')
    assert problems(too_old, {**requires, "async-timeout": []})


def test_the_declared_pythons_are_those_of_pyproject() -> None:
    assert declared_pythons()[0] == "3.11.0"
    assert all(v.startswith("3.11.") for v in declared_pythons())


def test_a_clean_no_deps_install_of_the_lock_passes_pip_check_and_imports_the_code() -> None:
    # scripts/check-lock: a fresh venv, `pip install --no-deps -r requirements.txt` as the
    # image does, `pip check`, then every module of gateway/, services/ and shared/ imported.
    run = subprocess.run([str(REPO / "scripts" / "check-lock")], cwd=REPO, text=True,
                         capture_output=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert re.search(r"imported \d+ modules", run.stdout), run.stdout[-2000:]
