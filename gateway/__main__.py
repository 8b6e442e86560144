"""Run the gateway: `python -m gateway` (split) or `python -m gateway --embedded`."""

from __future__ import annotations

import os
import sys

from shared.http.drain import run
from shared.http.logs import configure_logging, refusing_bad_settings
from shared.settings import Settings


def main(argv: list[str]) -> None:
    """Start the gateway, embedded (all services in this process) or in front of services."""
    if "--embedded" in argv:
        from gateway.embedded import create_embedded_app
        from shared.devkeys import ensure_dev_keys

        env = dict(os.environ)
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
