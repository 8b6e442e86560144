"""Deleting several short-lived keys in one call (a recovery resets every factor's lockout)."""

from __future__ import annotations

from shared.stores.ephemeral import Ephemeral


async def test_delete_takes_several_keys_at_once(eph: Ephemeral) -> None:
    await eph.put("a", {"x": 1}, 60)
    await eph.incr("b", 60)
    assert await eph.delete("a", "b", "missing") is True
    assert await eph.get("a") is None and await eph.ttl("b") == 0
    assert await eph.delete("a", "b") is False
    assert await eph.delete("missing") is False
