"""One-time codes in tests."""

from __future__ import annotations


def wrong_code(code: str) -> str:
    """A code of the same length that is not this one."""
    return f"{(int(code) + 1) % 10**len(code):0{len(code)}d}"
