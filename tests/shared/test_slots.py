"""Every Lua script and multi-key command runs in one Redis Cluster slot.

Listed from the code itself: every script in shared/stores/ephemeral.py (and the keys it touches),
and every call in shared/, services/ and gateway/ that hands the store more than one key. A
new script or call site fails here until it is added to the tables below with the reason its
keys share a hash tag; the key builders are then checked to put those keys in one slot."""

from __future__ import annotations

import ast
import re
import secrets
from pathlib import Path

import pytest
from redis.crc import key_slot

from shared.crypto import CodeHasher
from shared.mfa.lockout import Lockout
from shared.mfa.registry import LOCKOUT_FACTORS
from shared.mfa.sessions import session_key, tag_of, user_tag
from shared.stores.ephemeral import RedisEphemeral

ROOT = Path(__file__).resolve().parents[2]
EPHEMERAL = ROOT / "shared" / "stores" / "ephemeral.py"
HASHER = CodeHasher(secrets.token_bytes(32))

# Scripts touching more than one key: what the keys are (all carry the user's tag).
MULTI_KEY_SCRIPTS = {
    "_RESERVE": "the lockout hash lock:{tag}:<factor> and the session mfa:{tag}:<hash>",
    "_SETTLE": "the same two keys",
}
# Methods of the store that take several keys, and each place that calls them with more
# than one: (file, function) -> how the keys are built.
MULTI_KEY_METHODS = {"reserve", "settle", "settle_later", "delete"}
MULTI_KEY_CALLS = {
    ("shared/mfa/flow.py", "_reserve"): "Lockout.key_for_tag(tag_of(session key)) + session key",
    ("shared/mfa/flow.py", "succeed"): "one key (the session is None)",
    ("shared/mfa/flow.py", "login"): "the attempt's lock_key + its session's key (one DEL)",
    ("shared/mfa/lockout.py", "reset"): "Lockout.key(tenant, user, f) for each factor",
    ("shared/mfa/lockout.py", "state"): "one key (the session is None)",
}


def scripts() -> dict[str, str]:
    """Every module-level Lua script in shared/stores/ephemeral.py."""
    tree = ast.parse(EPHEMERAL.read_text())
    out = {}
    for node in tree.body:
        if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str) and "redis.call" in node.value.value):
            out[node.targets[0].id] = node.value.value  # type: ignore[attr-defined]
    return out


def test_every_script_touches_only_the_keys_it_is_given() -> None:
    found = scripts()
    assert {"_RESERVE", "_SETTLE", "_TAKE", "_PUT"} <= set(found)
    for name, lua in found.items():
        for cmd, first in re.findall(r"redis\.call\('(\w+)',\s*([^,)]+)", lua):
            assert re.fullmatch(r"KEYS\[\d\]", first.strip()), (
                f"{name}: {cmd} on {first}: a key not in KEYS is invisible to the cluster")


def test_every_multi_key_script_is_listed() -> None:
    for name, lua in scripts().items():
        keys = set(re.findall(r"KEYS\[(\d)\]", lua))
        if keys - {"1"}:
            assert name in MULTI_KEY_SCRIPTS, f"{name} touches KEYS {sorted(keys)}: list it"


def multi_key_call_sites() -> set[tuple[str, str]]:
    """(file, function) of every store call passing more than one key."""
    sites = set()
    for path in [*ROOT.glob("shared/**/*.py"), *ROOT.glob("services/**/*.py"),
                 *ROOT.glob("gateway/*.py")]:
        if path == EPHEMERAL:
            continue
        tree = ast.parse(path.read_text())
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for call in ast.walk(fn):
                if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                        and call.func.attr in MULTI_KEY_METHODS
                        and "eph" in ast.unparse(call.func.value)):
                    keys = call.args[:2] if call.func.attr != "delete" else call.args
                    if len(keys) > 1 or any(isinstance(a, ast.Starred) for a in keys):
                        sites.add((str(path.relative_to(ROOT)), fn.name))
    return sites


def test_every_multi_key_call_is_listed() -> None:
    sites = multi_key_call_sites()
    assert sites - set(MULTI_KEY_CALLS) == set(), "unlisted multi-key calls"
    assert set(MULTI_KEY_CALLS) - sites == set(), "listed calls the code no longer makes"


@pytest.mark.parametrize("prefix", ["mfa:", "mfa-test-0123456789:", ""])
def test_the_listed_keys_share_one_slot(prefix: str) -> None:
    for _ in range(200):
        tenant, user = secrets.token_hex(4), secrets.token_hex(6)
        token = f"{secrets.token_urlsafe(32)}.{user_tag(HASHER, tenant, user)}"
        skey = session_key(token)
        assert skey is not None
        lockout_keys = [Lockout.key_for_tag(user_tag(HASHER, tenant, user), f)
                        for f in LOCKOUT_FACTORS]
        keys = [skey, Lockout.key_for_tag(tag_of(skey), "totp"), *lockout_keys]
        assert len({key_slot((prefix + k).encode()) for k in keys}) == 1, keys


def test_a_prefix_with_a_brace_is_refused() -> None:
    with pytest.raises(ValueError, match="MFA_REDIS_PREFIX"):
        RedisEphemeral("redis://127.0.0.1:6379/0", prefix="{mfa}:")
