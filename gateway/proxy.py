"""Forwarding a request to a service over one pooled client session."""

from __future__ import annotations

import functools

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from gateway.upstreams import NotReached
from shared.http.errors import GatewayTimeout, Unavailable
from shared.http.logs import request_id_var
from shared.http.web import ANSWERED_UPSTREAM, TRACE_HEADER

# Hop-by-hop headers (RFC 9110 section 7.6.1) and those the proxy sets itself.
_DROP_REQUEST = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
                 "trailer", "transfer-encoding", "upgrade", "host", "content-length",
                 "x-forwarded-for", TRACE_HEADER, "x-request-id"}
_DROP_RESPONSE = {"connection", "keep-alive", "transfer-encoding", "upgrade", "content-length",
                  "content-encoding", "server", "date", TRACE_HEADER}


@functools.lru_cache(maxsize=64)
def _timeout(limit_s: float, connect_s: float) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=limit_s, sock_connect=min(connect_s, limit_s))


async def forward(session: aiohttp.ClientSession, request: web.Request, base_url: str,
                  path: str, limit_s: float, connect_s: float) -> web.Response:
    """Send the request upstream; 502 when it is down, 504 when it is too slow. A new
    connection not made within `connect_s` (a replica whose packets are dropped: no refusal
    ever comes) is NotReached like a refused one: the request never left the gateway."""
    body = await request.read()
    headers = CIMultiDict((k, v) for k, v in request.headers.items()
                          if k.lower() not in _DROP_REQUEST)
    headers[TRACE_HEADER] = request_id_var.get() or ""
    # Append our peer to the chain the client's proxies built (never overwrite it): the SMS
    # service reads the client from the right, past MFA_TRUSTED_PROXIES (shared/http/client_ip.py).
    chain = [v.strip() for v in request.headers.getall("X-Forwarded-For", []) if v.strip()]
    headers["X-Forwarded-For"] = ", ".join([*chain, request.remote or ""])
    raw_query = request.rel_url.raw_query_string
    url = URL(base_url.rstrip("/") + path + (f"?{raw_query}" if raw_query else ""),
              encoded=True)
    try:
        async with session.request(request.method, url, headers=headers, data=body,
                                   allow_redirects=False,
                                   timeout=_timeout(round(limit_s, 1), connect_s)) as up:
            data = await up.read()
            out = CIMultiDict((k, v) for k, v in up.headers.items()
                              if k.lower() not in _DROP_RESPONSE)
            request[ANSWERED_UPSTREAM] = True  # the service logged this request
            return web.Response(status=up.status, body=data, headers=out)
    except aiohttp.ConnectionTimeoutError:
        raise NotReached() from None  # the connect timed out: nothing was sent
    except TimeoutError:
        raise GatewayTimeout() from None
    except aiohttp.ClientConnectorError:
        raise NotReached() from None  # never sent: gateway.upstreams tries another replica
    except (aiohttp.ClientError, ConnectionError):
        raise Unavailable("Upstream service failed", code="ER-MFA-UPSTREAM-FAILED") from None
