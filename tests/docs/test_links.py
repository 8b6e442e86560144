"""Every relative link in the README, docs/ and deploy/README.md resolves: the file (or folder)
exists inside the repository, and a `#anchor` names a heading of the target as GitHub slugs it.
Links to other sites are not followed."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCUMENTS = sorted({REPO / "README.md", REPO / "deploy" / "README.md",
                    *(REPO / "docs").rglob("*.md")})

_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1")
_INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]"  # [text], one level of [..] inside
                          r"\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")  # (target "title")
_REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
_EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")  # http:, https:, mailto:, ...


def _prose(text: str) -> list[tuple[int, str]]:
    """The lines outside fenced code blocks, numbered from 1."""
    out, fenced = [], False
    for n, line in enumerate(text.splitlines(), 1):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            out.append((n, line))
    return out


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: the rendered text (code spans, links and emphasis reduced
    to their text), lower-cased, every character but letters, digits, `-`, `_` and spaces
    dropped, spaces turned into `-`."""
    text = _CODE_SPAN.sub(lambda m: m.group(2), heading)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"<[^>]+>", "", text).replace("*", "")
    text = text.strip().lower()
    kept = "".join(c for c in text
                   if c in "-_ " or unicodedata.category(c)[0] in ("L", "N"))
    return kept.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading anchor of a Markdown file, repeated headings numbered as GitHub does."""
    seen: dict[str, int] = {}
    out: set[str] = set()
    for _, line in _prose(path.read_text(encoding="utf-8")):
        m = _HEADING.match(line)
        if not m:
            continue
        base = slug(m.group(2))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def links(path: Path) -> list[tuple[int, str]]:
    """(line, target) of every link in the file's prose (not in code blocks or code spans)."""
    found = []
    for n, line in _prose(path.read_text(encoding="utf-8")):
        line = _CODE_SPAN.sub("code", line)
        found += [(n, m.group(1)) for m in _INLINE_LINK.finditer(line)]
        if (m := _REFERENCE.match(line)) is not None:
            found.append((n, m.group(1)))
    return found


def broken(path: Path, root: Path = REPO) -> list[str]:
    """What is wrong with the file's relative links, one line per broken link."""
    problems = []
    for n, target in links(path):
        if not target or _EXTERNAL.match(target):
            continue
        where = f"{path.relative_to(root)}:{n}: {target}"
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.is_relative_to(root):
            problems.append(f"{where}: points outside the repository")
            continue
        if not dest.exists():
            problems.append(f"{where}: no such file")
            continue
        if anchor:
            if dest.is_dir() or dest.suffix != ".md":
                problems.append(f"{where}: an anchor into a file that is not Markdown")
            elif anchor not in anchors(dest):
                problems.append(f"{where}: no heading with that anchor")
    return problems


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves(path: Path) -> None:
    assert broken(path) == []


def test_the_readme_stays_short() -> None:
    lines = (REPO / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines <= 300, f"README.md has {lines} lines; move reference material to docs/"


@pytest.mark.parametrize(("heading", "anchor"), [
    ("4.1 Authenticator app (service `totp`)", "41-authenticator-app-service-totp"),
    ("3. The MFA session and Frontegg's login response",
     "3-the-mfa-session-and-fronteggs-login-response"),
    ("Security events (outbox)", "security-events-outbox"),
    ("2026-12-03: Unix sockets", "2026-12-03-unix-sockets"),
    ("The **verify** path, [linked](x.md)", "the-verify-path-linked"),
])
def test_slugs_follow_github(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor


def test_a_broken_link_is_found(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "there.md").write_text("# There\n", encoding="utf-8")
    bad = tmp_path / "docs" / "bad.md"
    bad.write_text("# Title\n\n[gone](missing.md) [anchor](#nope) [fine](#title)\n"
                   "[`there`](there.md#there) [wrong](there.md#elsewhere) [up](../../x.md)\n"
                   "```\n[in code](ignored.md)\n```\n[ref]: gone-too.md\n", encoding="utf-8")
    assert broken(bad, tmp_path) == [
        "docs/bad.md:3: missing.md: no such file",
        "docs/bad.md:3: #nope: no heading with that anchor",
        "docs/bad.md:4: there.md#elsewhere: no heading with that anchor",
        "docs/bad.md:4: ../../x.md: points outside the repository",
        "docs/bad.md:8: gone-too.md: no such file",
    ]
