"""Run the gateway: `python -m gateway` (split) or `python -m gateway --embedded`."""

from __future__ import annotations

import ipaddress
import os
import sys

from shared.http.drain import run
from shared.http.logs import configure_logging, refusing_bad_settings
from shared.settings import Settings, env_bool


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


def refuse_public_embedded(env: dict[str, str]) -> str | None:
    """Why embedded mode must not start on this MFA_HOST, or None. It is a development server:
    the internal API routed, generated keys (the internal one printed), codes in the log; on
    an address others reach that is a public session-start API. MFA_EMBEDDED_PUBLIC=true
    overrides (a container whose port is published on loopback only, for instance)."""
    host = env.get("MFA_HOST", "127.0.0.1").strip() or "127.0.0.1"
    if _loopback(host) or env_bool(env, "MFA_EMBEDDED_PUBLIC", False):
        return None
    return (f"embedded mode is for development and listens only on a loopback address; "
            f"MFA_HOST={host} is not one (set MFA_EMBEDDED_PUBLIC=true to allow it, or run "
            "the services split: python -m gateway and python -m services.<name>)")


def main(argv: list[str]) -> None:
    """Start the gateway, embedded (all services in this process) or in front of services."""
    if "--embedded" in argv:
        from gateway.embedded import create_embedded_app
        from shared.devkeys import ensure_dev_keys

        env = dict(os.environ)
        refusal = refuse_public_embedded(env)
        if refusal:  # before any key is generated or printed
            print(f"mfa: {refusal}", file=sys.stderr)
            sys.exit(2)
        env.setdefault("MFA_EXPOSE_INTERNAL_API", "true")
        env = ensure_dev_keys(env.get("MFA_VAR_DIR", "var"), env)
        settings = Settings.from_env(env)
        configure_logging(settings.log_level)
        print(f"MFA service (embedded) on http://{settings.host}:{settings.port}"
              f"{settings.mount_prefix}/resources/...\nSupport console: http://{settings.host}:"
              f"{settings.port}/internal/console/ (sign in with the internal API key, in "
              f"{settings.var_dir}/dev-keys.json)", file=sys.stderr)
        run(create_embedded_app(settings), settings)
    else:
        from gateway.app import create_app

        settings = Settings.from_env()
        configure_logging(settings.log_level)
        run(create_app(settings), settings)


if __name__ == "__main__":
    with refusing_bad_settings():  # a setting that cannot work: one log line, exit 78
        main(sys.argv[1:])
