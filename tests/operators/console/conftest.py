"""The support console's fixtures: a stand-in OIDC provider served over HTTP, the console at
a URL known before the stack is built (its OIDC redirect is built on it: the socket of the
app that serves it, the gateway embedded or the operators service split, is bound first), and
a cookie-keeping client that drives the pages over HTTP as a browser would."""

from __future__ import annotations

import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from tests.support.browser import loopback_socket, serving_on
from tests.support.oidc_provider import CLIENT_ID, CLIENT_SECRET, Provider
from tests.support.totp_flows import LOCK_ENV


@pytest.fixture
def console_socket() -> Iterator[socket.socket]:
    """The loopback socket the console is served on, bound now so its port is known now."""
    with loopback_socket() as s:
        yield s


@pytest.fixture
def console_url(console_socket: socket.socket) -> str:
    """Where the browser opens the console (localhost: a secure context for its cookies)."""
    return f"http://localhost:{console_socket.getsockname()[1]}/internal/console"


@pytest.fixture
async def aiohttp_server(aiohttp_server: Callable[..., Awaitable[TestServer]],
                         console_socket: socket.socket
                         ) -> AsyncIterator[Callable[..., Awaitable[TestServer]]]:
    """The plugin's factory, except that the first operators or gateway app (operators in
    split mode, built before the gateway; the gateway embedded) serves on console_socket."""
    async with serving_on(aiohttp_server, console_socket, ("operators", "gateway")) as go:
        yield go


@pytest.fixture
async def idp(aiohttp_server: Callable[..., Awaitable[TestServer]],
              console_url: str) -> Provider:
    """The stand-in identity provider, serving on its own port."""
    provider = Provider(redirect_uris=[f"{console_url}/oidc/callback"])
    server = await aiohttp_server(provider.app())
    provider.issuer = str(server.make_url("")).rstrip("/")
    return provider


@pytest.fixture
def extra_env(idp: Provider, console_url: str) -> dict[str, str]:
    """The console signs in with the provider; a factor locks at 3 wrong codes."""
    return {**LOCK_ENV, "MFA_CONSOLE_URL": console_url, "MFA_CONSOLE_OIDC_ISSUER": idp.issuer,
            "MFA_CONSOLE_OIDC_CLIENT_ID": CLIENT_ID,
            "MFA_CONSOLE_OIDC_CLIENT_SECRET": CLIENT_SECRET}


class Page:
    """One answer: status, headers, body text."""

    def __init__(self, status: int, headers: Any, text: str) -> None:
        self.status, self.headers, self.text = status, headers, text

    @property
    def location(self) -> str:
        return str(self.headers.get("Location", ""))

    def csrf(self) -> str:
        """The CSRF token of the page's forms."""
        m = re.search(r'name="csrf" value="([^"]+)"', self.text)
        assert m, self.text[:2000]
        return m.group(1)


class Visitor:
    """Drives the console over HTTP, keeping cookies as a browser on localhost does."""

    def __init__(self, http: aiohttp.ClientSession, console_url: str) -> None:
        self.http, self.base = http, console_url
        self.cookies: dict[str, str] = {}
        self.set_cookies: list[str] = []

    async def go(self, method: str, url: str, data: Any = None) -> Page:
        """One request, no redirect followed; cookies sent and kept."""
        if not url.startswith("http"):
            url = self.base + url
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} \
            if self.cookies and urlsplit(url).hostname == "localhost" else {}
        async with self.http.request(method, url, data=data, headers=headers,
                                     allow_redirects=False) as r:
            for raw in r.headers.getall("Set-Cookie", []):
                self.set_cookies.append(raw)
                name, _, rest = raw.partition("=")
                value = rest.split(";", 1)[0]
                if value and "max-age=0" not in raw.lower():
                    self.cookies[name] = value
                else:
                    self.cookies.pop(name, None)
            return Page(r.status, r.headers, await r.text())

    async def get(self, path: str) -> Page:
        return await self.go("GET", path)

    async def post(self, path: str, data: dict[str, str]) -> Page:
        return await self.go("POST", path, data=data)

    async def sign_in(self, person: str) -> Page:
        """Through the provider: start, its page, the person's button, the callback."""
        start = await self.get("/oidc/start")
        assert start.status == 303, start.text
        authorize = await self.get(start.location)
        assert authorize.status == 200, authorize.text
        query = dict(parse_qsl(urlsplit(start.location).query))
        back = await self.go("POST", start.location.split("?")[0],
                             data={**query, "person": person})
        assert back.status == 303, back.text
        return await self.get(back.location)

    async def sign_in_with_key(self, key: str) -> Page:
        form = await self.get("/signin")
        return await self.post("/signin", {"csrf": form.csrf(), "key": key})


@pytest.fixture
async def visitor(console_url: str) -> AsyncIterator[Callable[[], Visitor]]:
    """A factory of visitors (each its own cookies)."""
    async with aiohttp.ClientSession() as http:
        yield lambda: Visitor(http, console_url)
