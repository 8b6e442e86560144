"""JSON logs carrying the request id and the trace id. Never log codes, secrets, tokens, phones
or emails."""

from __future__ import annotations

import contextvars
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import orjson

from shared.http.tracing import current_trace_id

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None)
# The request's W3C trace id: its server span's when tracing is on (shared.http.tracing), else
# the caller's traceparent's, if any; in the log lines and the audit rows.
trace_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("trace_id",
                                                                          default=None)
# The request's Accept-Language (truncated): the language of notifications its events cause.
language_var: contextvars.ContextVar[str] = contextvars.ContextVar("language", default="")


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        """Render the record with time, level, logger, message, request id and extras."""
        out = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = request_id_var.get()
        if rid:
            out["requestId"] = rid
        tid = trace_id_var.get() or current_trace_id()
        if tid:
            out["traceId"] = tid
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            out.update(extra)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


def configure_logging(level: str = "INFO") -> None:
    """Send JSON logs to stderr at the given level."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


EX_CONFIG = 78  # sysexits.h: a configuration error


@contextmanager
def refusing_bad_settings() -> Iterator[None]:
    """Around a process's start (settings, then its app): a setting that cannot work (the
    ValueError the settings and each part's config raise) ends the process with one ERROR log
    line saying why, JSON like every other line, and exit code 78, instead of a traceback
    that a log pipeline splits into lines. The messages name the setting, never its value."""
    try:
        yield
    except ValueError as e:
        if not logging.getLogger().handlers:  # the settings failed before logging was set up
            configure_logging()
        logging.getLogger("mfa.start").error("refusing to start: %s", e)
        raise SystemExit(EX_CONFIG) from None
