"""Who is asking: the request's client as the audit trail and trusted devices describe it.

The middleware (shared.http.web) puts the raw inputs on `caller_var` for every request; they
are parsed only when something is written about the caller (an audit row, a remembered
device): the address past MFA_TRUSTED_PROXIES (shared.http.client_ip) in the form
MFA_AUDIT_ADDRESS asks for, and the User-Agent reduced to a label ("Chrome on macOS"), never
the header itself."""

from __future__ import annotations

import contextvars
import functools
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass

from shared.http.client_ip import behind_gateway, ip_bucket

# How an audit row keeps the client's address: subscriber = the address, or the /64 for IPv6
# (one subscriber usually holds a whole /64); full = the address as received; network = the
# /24 (IPv4) or /48 (IPv6), as trusted devices show it.
ADDRESS_FORMS = ("subscriber", "full", "network")

_BROWSERS = (("Edge", r"Edg(e|A|iOS)?/"), ("Opera", r"OPR/|Opera"), ("Firefox", r"Firefox/|FxiOS/"),
             ("Chrome", r"Chrome/|CriOS/"), ("Safari", r"Safari/"))
_SYSTEMS = (("iOS", r"iPhone|iPad|iPod"), ("Android", r"Android"), ("Windows", r"Windows"),
            ("macOS", r"Mac OS X|Macintosh"), ("ChromeOS", r"CrOS"), ("Linux", r"Linux"))


@functools.lru_cache(maxsize=1024)
def device_label(user_agent: str) -> str:
    """"Chrome on macOS" from a User-Agent header (never the header itself)."""
    ua = user_agent[:512]
    browser = next((name for name, pat in _BROWSERS if re.search(pat, ua)), "")
    system = next((name for name, pat in _SYSTEMS if re.search(pat, ua)), "")
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or "Unknown browser"


def network_of(ip: str) -> str:
    """The client address's network, not the address: /24 for IPv4, /48 for IPv6."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ""
    prefix = 24 if addr.version == 4 else 48
    return str(ipaddress.ip_network(f"{addr}/{prefix}", strict=False))


def recorded_address(ip: str, form: str) -> str:
    """The client's address as an audit row keeps it (see ADDRESS_FORMS)."""
    if not ip:
        return ""
    if form == "full":
        return ip[:64]
    if form == "network":
        return network_of(ip) or ip[:64]
    return ip_bucket(ip)


@dataclass(frozen=True, slots=True)
class Caller:
    """The request's client as received: X-Forwarded-For, the direct peer, the User-Agent."""

    forwarded_for: str | None
    peer: str | None
    user_agent: str

    def address(self, trusted: Sequence[str]) -> str:
        """The client's address (shared.http.client_ip.behind_gateway)."""
        return behind_gateway(self.forwarded_for, self.peer, trusted)

    def label(self) -> str:
        """The User-Agent's label."""
        return device_label(self.user_agent[:512]) if self.user_agent else ""


caller_var: contextvars.ContextVar[Caller | None] = contextvars.ContextVar("caller",
                                                                            default=None)
