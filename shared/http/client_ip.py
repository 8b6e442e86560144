"""The client's address behind reverse proxies: the one place it is computed.

Each proxy appends the address it received the request from to X-Forwarded-For, so the chain
reads client, proxy1, proxy2, ... and only the entries added by proxies we run can be believed.
Reading from the right, every address that is a trusted proxy (MFA_TRUSTED_PROXIES) is a hop
of ours; the first one that is not is the client. Anything to its left was written by the
client itself and is ignored, so a client cannot pick its own rate-limit bucket.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_CACHE: dict[tuple[str, ...], tuple[Network, ...]] = {}


def parse_networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    """CIDRs (or bare addresses) as networks; a bad entry is a configuration error."""
    key = tuple(cidrs)
    if key not in _CACHE:
        try:
            _CACHE[key] = tuple(ipaddress.ip_network(c, strict=False) for c in key)
        except ValueError as e:
            raise ValueError(f"MFA_TRUSTED_PROXIES: {e}") from None
    return _CACHE[key]


def _address(raw: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """One chain entry as an address (IPv4-mapped IPv6 as IPv4); None when unparsable."""
    text = raw.strip().strip('"')
    if text.startswith("[") and "]" in text:  # "[v6]:port"
        text = text[1:text.index("]")]
    elif text.count(":") == 1:  # "v4:port"
        text = text.split(":", 1)[0]
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def client_ip(forwarded_for: str | None, peer: str | None, trusted: Sequence[str]) -> str:
    """The right-most address of X-Forwarded-For plus the direct peer that is not a trusted
    proxy; the left-most hop when every one is trusted; "" when there is nothing."""
    hops = [h for h in (forwarded_for or "").split(",") if h.strip()]
    if peer:
        hops.append(peer)
    networks = parse_networks(trusted)
    chosen = ""
    for raw in reversed(hops):
        addr = _address(raw)
        if addr is None:
            # Garbage cannot be a proxy of ours: whoever wrote it is the client's side.
            return chosen or raw.strip()[:64]
        chosen = str(addr)
        if not any(addr in net for net in networks):
            return chosen
    return chosen


def behind_gateway(forwarded_for: str | None, peer: str | None, trusted: Sequence[str]) -> str:
    """The client's address as a service sees it: its direct peer is the gateway (services are
    reachable only from it), which appended its own peer last, so the chain alone decides;
    without a chain the peer is the client (a direct call in tests or tools)."""
    if forwarded_for and forwarded_for.strip():
        return client_ip(forwarded_for, None, trusted)
    return client_ip(None, peer, trusted)


def ip_bucket(ip: str) -> str:
    """The rate-limit bucket of a client address: the address, or its /64 for IPv6 (one
    subscriber usually holds a whole /64)."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ip[:64]
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        return str(ipaddress.IPv6Network((addr, 64), strict=False))
    return str(addr)
