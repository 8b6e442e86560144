"""A webhook receiver, run as its own process by the tests, built as docs/operators.md tells
receivers to: verifies the signature (over the timestamp and id headers and the body), refuses
a stale timestamp, deduplicates by the id header, appends each new event to its log (fsynced)
and every delivery to a raw log. With MFA_RECEIVER_DIE_AFTER=N it exits abruptly after
logging the N-th new event, before answering (the sender never learns it arrived).

Usage: python -m tests.support.webhook_receiver PORT SECRET LOG_DIR
(on 127.0.0.1, or on MFA_RECEIVER_HOST: the network-fault harness runs it in a namespace)"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from aiohttp import web

from shared.events.signing import MESSAGE_ID_HEADER, TIMESTAMP_HEADER, verify

STALE_S = 3600


def _append(path: Path, record: dict[str, object]) -> None:
    with path.open("a") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())


def make_app(secret: str, log_dir: Path, die_after: int) -> web.Application:
    """The receiver: POST /events."""
    log, raw_log = log_dir / "events.jsonl", log_dir / "raw.jsonl"
    seen = {json.loads(line)["id"] for line in log.read_text().splitlines()} \
        if log.exists() else set()
    new_here = 0

    async def events(request: web.Request) -> web.Response:
        nonlocal new_here
        raw = await request.read()
        if not verify(secret, raw, request.headers):
            return web.json_response({"error": "bad signature"}, status=401)
        if int(request.headers[TIMESTAMP_HEADER]) < time.time() - STALE_S:
            return web.json_response({"error": "stale"}, status=400)
        body, event_id = json.loads(raw), request.headers[MESSAGE_ID_HEADER]
        _append(raw_log, {"id": event_id})
        if event_id not in seen:
            seen.add(event_id)
            _append(log, {"id": event_id, "type": body["type"], "tenantId": body["tenantId"],
                          "userId": body["userId"]})
            new_here += 1
            if new_here == die_after:
                os._exit(1)  # mid-stream: logged, never answered
        return web.json_response({"ok": True})

    async def ready(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/events", events)
    app.router.add_get("/ready", ready)
    return app


if __name__ == "__main__":
    port, secret, log_dir = int(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    die_after = int(os.environ.get("MFA_RECEIVER_DIE_AFTER", "0"))
    web.run_app(make_app(secret, log_dir, die_after),
                host=os.environ.get("MFA_RECEIVER_HOST", "127.0.0.1"), port=port,
                print=None, access_log=None)
