"""The verify's floor: a handler that makes only the store calls a TOTP verify must make.

Run: python -m bench.floor PORT (the stores from the MFA_* environment, as the services read it)

Per request: the reservation (one EVALSHA: load the mfaToken's session, count the attempt),
the conditional step advance with its audit row and the token's single use (one Postgres
statement, the service's own), and, after the answer, the settle (delete the session, reset
the count: coalesced with other requests' into one pipeline), through the project's own store
classes on real Redis and Postgres. Nothing else: no middleware, schema, seed decryption,
code comparison, token signing, access log or metrics. A gateway in front of it gives the row
"floor" in `make bench`: what any verify of this design can reach on the machine.
"""

from __future__ import annotations

import sys
import time

from aiohttp import web

from bench.data import open_stores
from shared.events.audit import AuditEvent, TokenUse, TokenUsed
from shared.mfa.lockout import Lockout
from shared.mfa.sessions import session_key, tag_of
from shared.settings import Settings
from shared.stores.bundle import Stores

STORES = web.AppKey("stores", Stores)


async def _verify(request: web.Request) -> web.Response:
    """Reserve, advance the step with its audit row, settle; 200 only when both held."""
    body = await request.json()
    stores = request.app[STORES]
    skey = session_key(body.get("mfaToken", ""))
    if skey is None:
        return web.json_response({"errors": ["not an mfaToken"]}, status=401)
    lock_key = Lockout.key_for_tag(tag_of(skey), "totp")
    r = await stores.eph.reserve(lock_key, skey, stores.lockout.limits, now=time.time())
    if r.status != "ok" or not r.session:
        return web.json_response({"errors": [r.status]}, status=401)
    s = r.session
    device = s["carried"][0]["id"]
    event = AuditEvent(s["tenant_id"], s["user_id"], "totp", "verify", "success", device)
    now = time.time()
    try:
        stepped = await stores.devices.advance_step(
            device, int(now // 30), now, audit=stores.audit, event=event,
            use=TokenUse(skey.rsplit(":", 1)[1], s["expires_at"]))
    except TokenUsed:
        stepped = False
    if stepped:
        stores.eph.settle_later(lock_key, skey)
    return web.json_response({"ok": stepped}, status=200 if stepped else 401)


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def create_app(settings: Settings) -> web.Application:
    """The floor handler on every POST path, the health endpoints the gateway probes, and the
    stores opened on start-up."""
    app = web.Application()

    async def stores_ctx(app: web.Application):  # type: ignore[no-untyped-def]
        app[STORES] = await open_stores(settings)
        yield
        await app[STORES].close()

    app.cleanup_ctx.append(stores_ctx)
    app.router.add_get("/healthz", _health)
    app.router.add_get("/readyz", _health)
    app.router.add_post("/{tail:.*}", _verify)
    return app


if __name__ == "__main__":
    import uvloop

    uvloop.install()
    web.run_app(create_app(Settings.from_env()), host="127.0.0.1", port=int(sys.argv[1]),
                access_log=None, print=None)
