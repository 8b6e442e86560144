"""JSON on the wire: request bodies decoded bounded in nesting depth (a body of thousands of
`[` must be a 400, never a 500 in the handler), answers encoded. orjson does both: about ten
times cheaper than the standard library on these small bodies (docs/performance.md section 3),
and stricter on input (NaN, lone surrogates and integers past 64 bits are malformed)."""

from __future__ import annotations

from typing import Any

import orjson

from shared.http.errors import BadRequest

# Frontegg's bodies nest a few levels (a WebAuthn credential is the deepest, at about 4); 32
# leaves room and keeps everything downstream (marshmallow, py_webauthn, json.dumps) shallow.
MAX_DEPTH = 32
# RFC 8259's whitespace only: a body of a vertical tab or form feed (whitespace to Python's
# bytes.strip) is malformed, not empty.
JSON_WHITESPACE = b" \t\n\r"


def parse_json(raw: bytes) -> Any:
    """The decoded body ({} when empty); 400 ER-MFA-MALFORMED-JSON when it is not JSON or
    nests deeper than MAX_DEPTH."""
    if not raw.strip(JSON_WHITESPACE):
        return {}
    try:
        data = orjson.loads(raw)
    except (orjson.JSONDecodeError, RecursionError):
        raise BadRequest("Malformed JSON body", code="ER-MFA-MALFORMED-JSON") from None
    if depth(data) > MAX_DEPTH:
        raise BadRequest(f"The JSON body nests deeper than {MAX_DEPTH} levels",
                         code="ER-MFA-MALFORMED-JSON")
    return data


def depth(value: Any) -> int:
    """How many arrays/objects deep a decoded value goes (iterative: no recursion limit)."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        item, level = todo.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        todo.extend((child, level + 1) for child in children)
    return deepest


def dumps(value: Any) -> bytes:
    """A JSON answer body (UTF-8 bytes)."""
    return orjson.dumps(value)
