"""A bare aiohttp JSON handler: the ceiling every figure is compared with.

Run: python -m bench.bare PORT
"""

from __future__ import annotations

import sys

from aiohttp import web


async def _echo(request: web.Request) -> web.Response:
    """Parse the JSON body and answer a small JSON object, nothing else."""
    body = await request.json()
    return web.json_response({"ok": True, "keys": len(body)})


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def create_app() -> web.Application:
    """One POST handler on every path, plus the health endpoints the gateway probes."""
    app = web.Application()
    app.router.add_get("/healthz", _health)
    app.router.add_get("/readyz", _health)
    app.router.add_post("/{tail:.*}", _echo)
    return app


if __name__ == "__main__":
    import uvloop

    uvloop.install()
    web.run_app(create_app(), host="127.0.0.1", port=int(sys.argv[1]), access_log=None,
                print=None)
