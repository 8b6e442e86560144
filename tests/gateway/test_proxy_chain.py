"""Behind a real reverse proxy (nginx on loopback, as the shipped Ingress): each client gets its
own per-IP SMS bucket, and a client cannot choose its bucket with its own X-Forwarded-For."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from shared.http.client_ip import behind_gateway, client_ip
from tests.conftest import PREFIX, Ids, Stack, unavailable
from tests.support.nginx import Nginx, nginx_binary

USERS = "/resources/users/v1/mfa/sms"
IP_LIMIT = 2


@pytest.fixture
def extra_env() -> dict[str, str]:
    """nginx reaches the gateway from 127.0.0.1, the one trusted proxy; a small per-IP cap."""
    return {"MFA_TRUSTED_PROXIES": "127.0.0.1/32", "MFA_SMS_IP_HOURLY_LIMIT": str(IP_LIMIT),
            "MFA_SMS_RESEND_COOLDOWN": "0", "MFA_SMS_USER_HOURLY_LIMIT": "100"}


@pytest.fixture
async def proxy(stack: Stack, tmp_path: Any) -> AsyncIterator[Nginx]:
    """nginx in front of the stack's gateway."""
    binary = nginx_binary()
    if binary is None:
        unavailable("nginx (scripts/ensure-nginx)")
        raise AssertionError("unreachable")
    server = Nginx(tmp_path / "nginx", stack.url)
    await server.start(binary)
    try:
        yield server
    finally:
        await server.stop()


def _addresses(n: int) -> list[str]:
    """n loopback client addresses of this test's own (never 127.0.0.1, the proxy's)."""
    a, b = secrets.randbelow(200) + 20, secrets.randbelow(250) + 1
    return [f"127.{a}.{b}.{i}" for i in range(2, 2 + n)]


async def _send(stack: Stack, proxy: Nginx, source: str, ids: Ids,
                spoof: str | None = None) -> int:
    """One SMS enrollment send through nginx from a client socket bound to source."""
    headers = {"Authorization": f"Bearer {stack.user_token(ids)}"}
    if spoof:
        headers["X-Forwarded-For"] = spoof
    phone = f"+1201{secrets.randbelow(700) + 230}{secrets.randbelow(10000):04d}"
    connector = aiohttp.TCPConnector(local_addr=(source, 0))
    async with aiohttp.ClientSession(connector=connector) as http, http.post(
            proxy.url + PREFIX + f"{USERS}/enroll", json={"phoneNumber": phone},
            headers=headers) as r:
        await r.read()
        return r.status


async def test_each_client_behind_the_proxy_has_its_own_bucket(
        stack: Stack, proxy: Nginx, ids: Ids) -> None:
    await stack.set_policy(ids, strategies=["AuthenticatorApp", "SMS"])
    clients = _addresses(5)
    for source in clients:
        assert [await _send(stack, proxy, source, ids.other()) for _ in range(IP_LIMIT)] == [
            200] * IP_LIMIT, f"{source} shared a bucket with another client"
    for source in clients:
        assert await _send(stack, proxy, source, ids.other()) == 429


async def test_a_client_cannot_pick_its_bucket_with_x_forwarded_for(
        stack: Stack, proxy: Nginx, ids: Ids) -> None:
    await stack.set_policy(ids, strategies=["AuthenticatorApp", "SMS"])
    attacker, victim, bystander = _addresses(3)
    spoofs = [f"198.51.100.{i}" for i in range(1, IP_LIMIT + 2)] + [victim]
    statuses = [await _send(stack, proxy, attacker, ids.other(), spoof=s) for s in spoofs]
    assert statuses == [200] * IP_LIMIT + [429] * (len(spoofs) - IP_LIMIT)
    # The victim's bucket was not touched by the attacker naming it.
    assert [await _send(stack, proxy, victim, ids.other()) for _ in range(IP_LIMIT)] == [
        200] * IP_LIMIT
    assert await _send(stack, proxy, bystander, ids.other()) == 200


def test_client_ip_reads_the_chain_from_the_right_past_trusted_proxies() -> None:
    trusted = ("10.0.0.0/8", "2001:db8::/32")
    assert client_ip("1.2.3.4, 203.0.113.7, 10.1.1.1", "10.2.2.2", trusted) == "203.0.113.7"
    assert client_ip("203.0.113.7", "198.51.100.1", trusted) == "198.51.100.1"  # untrusted
    assert client_ip(None, "198.51.100.1", ()) == "198.51.100.1"
    assert client_ip("[2001:db8::1]:443, ::ffff:203.0.113.9", "10.0.0.1", trusted) == (
        "203.0.113.9")
    assert client_ip("10.3.3.3", "10.0.0.1", trusted) == "10.3.3.3"  # all trusted: left-most
    # Garbage is never a proxy of ours: the right-most trusted hop, not the garbage, is used.
    assert client_ip("unknown, 10.0.0.5", "10.0.0.1", trusted) == "10.0.0.5"
    assert behind_gateway("203.0.113.7, 10.0.0.9", "10.9.9.9", trusted) == "203.0.113.7"
    assert behind_gateway("", "203.0.113.8", trusted) == "203.0.113.8"
    with pytest.raises(ValueError, match="MFA_TRUSTED_PROXIES"):
        client_ip(None, "1.2.3.4", ("10.0.0.0/33",))
