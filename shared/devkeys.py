"""Development keys for embedded mode, generated into ./var/ on first run (never committed)."""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path

from shared.crypto import b64e
from shared.mfa.tokens import new_signing_key_pem


def ensure_dev_keys(var_dir: str, env: dict[str, str], *, announce: bool = True
                    ) -> dict[str, str]:
    """Fill missing key settings from ./var/dev-keys.json, creating it when absent (and then
    printing the internal API key, unless `announce` is false)."""
    path = Path(var_dir) / "dev-keys.json"
    Path(var_dir).mkdir(mode=0o700, parents=True, exist_ok=True)  # keys and the database
    created = not path.exists()
    if created:
        keys = {
            "MFA_JWT_PRIVATE_KEY": new_signing_key_pem(),
            "MFA_JWT_KEY_ID": "dev-" + secrets.token_hex(4),
            "MFA_ENCRYPTION_KEYS": "dev1:" + b64e(secrets.token_bytes(32)),
            "MFA_HMAC_KEY": b64e(secrets.token_bytes(32)),
            "MFA_INTERNAL_API_KEY": secrets.token_urlsafe(32),
        }
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(keys, f, indent=2)
    keys = json.loads(path.read_text())
    out = dict(env)
    for k, v in keys.items():
        if not out.get(k):
            out[k] = v
    if created and announce and not env.get("MFA_INTERNAL_API_KEY"):
        print(f"Development keys written to {path}.\n"
              f"Internal API key (Authorization: Bearer ...): {out['MFA_INTERNAL_API_KEY']}",
              file=sys.stderr)
    return out


if __name__ == "__main__":
    # `python -m shared.devkeys VAR_DIR` prints shell exports for the keys not already set.
    import shlex

    current = dict(os.environ)
    filled = ensure_dev_keys(sys.argv[1] if len(sys.argv) > 1 else "var", current)
    for name, value in filled.items():
        if name.startswith("MFA_") and not current.get(name):
            print(f"export {name}={shlex.quote(value)}")
