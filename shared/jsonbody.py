"""Request bodies as JSON, bounded in nesting depth: the decoder recurses once per level, so a
body of thousands of `[` would otherwise end in RecursionError (a 500) in the handler."""

from __future__ import annotations

import json
from typing import Any

from shared.errors import BadRequest

# Frontegg's bodies nest a few levels (a WebAuthn credential is the deepest, at about 4); 32
# leaves room and keeps everything downstream (marshmallow, py_webauthn, json.dumps) shallow.
MAX_DEPTH = 32


def parse_json(raw: bytes) -> Any:
    """The decoded body ({} when empty); 400 ER-MFA-MALFORMED-JSON when it is not JSON or
    nests deeper than MAX_DEPTH."""
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
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
