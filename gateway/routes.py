"""The one registry of services: which path prefix goes to which service."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from typing import Any

from aiohttp import web

from shared.settings import SERVICES

AppFactory = Callable[..., web.Application]

# Longest prefix wins; a prefix matches the path itself or the path followed by "/"; `{}`
# stands for one path segment (Frontegg puts the user id mid-path).
ROUTES: tuple[tuple[str, str], ...] = (
    ("/resources/auth/v1/user/mfa/authenticator", "totp"),
    ("/resources/auth/v1/user/mfa/verify", "totp"),
    ("/resources/users/v1/mfa/authenticator", "totp"),
    ("/resources/users/v1/mfa/enroll", "totp"),
    ("/resources/users/v1/mfa/disable", "totp"),
    ("/resources/auth/v1/user/mfa/sms", "sms"),
    ("/resources/users/v1/mfa/sms", "sms"),
    ("/resources/auth/v1/user/mfa/emailcode", "email"),
    ("/resources/auth/v1/user/mfa/webauthn", "webauthn"),
    ("/resources/users/v1/mfa/webauthn", "webauthn"),
    ("/resources/auth/v1/webauthn", "webauthn"),  # passkeys: WebAuthn as the first factor
    ("/resources/users/webauthn/v1/devices", "webauthn"),
    ("/mfa-demo/webauthn", "webauthn"),  # demo page, off unless MFA_WEBAUTHN_DEMO=true
    ("/resources/auth/v1/user/mfa/recover", "session"),
    ("/resources/auth/v1/user/mfa/recovery-codes", "session"),
    ("/resources/users/v1/mfa/recovery-codes", "session"),
    ("/resources/users/v1/mfa/trusted-devices", "session"),
    ("/resources/auth/v1/user/step-up", "session"),
    ("/resources/users/v1/mfa/devices", "session"),
    ("/resources/configurations/v1/mfa-policy/allow-remember-device", "session"),
    ("/.well-known/jwks.json", "session"),
    ("/resources/configurations/v1/mfa-policy", "operators"),
    ("/resources/configurations/v1/mfa/strategies", "operators"),
    ("/resources/configurations/v1/mfa", "operators"),
    ("/resources/configurations/v1/lockout-policy", "operators"),
    ("/resources/vendor-only/users/v1", "operators"),
    ("/resources/migrations", "operators"),  # Frontegg's migration routes (the MFA fields)
    ("/resources/users/v1/{}/unlock", "operators"),
)
INTERNAL_ROUTES: tuple[tuple[str, str], ...] = (("/internal", "session"),
                                                 ("/internal/v1/admin", "operators"),
                                                 ("/internal/console", "operators"))

_BY_LENGTH = sorted(ROUTES, key=lambda r: len(r[0]), reverse=True)
_INTERNAL = sorted(ROUTES + INTERNAL_ROUTES, key=lambda r: len(r[0]), reverse=True)


def service_factories() -> dict[str, AppFactory]:
    """Each service's create_app, from the fixed list of services (no discovery)."""
    return {name: _app_module(name).create_app for name in SERVICES}


def service_route_setups() -> dict[str, Callable[[web.Application], None]]:
    """Each service's setup_routes (the OpenAPI document is built from them)."""
    return {name: _app_module(name).setup_routes for name in SERVICES}


def _app_module(name: str) -> Any:
    return importlib.import_module(f"services.{name}.app")


_SEGMENT = re.compile(r"[^/]+")


def matches(path: str, prefix: str) -> bool:
    """Whether a route table prefix covers the path."""
    if "{}" not in prefix:
        return path == prefix or path.startswith(prefix + "/")
    head, _, tail = prefix.partition("{}")
    if not path.startswith(head):
        return False
    segment = _SEGMENT.match(path, len(head))
    if segment is None:
        return False
    return matches(path[segment.end():], tail) if tail else True


def match(path: str, *, internal: bool = False) -> str | None:
    """The service for a path (after the mount prefix is stripped), or None."""
    for prefix, service in (_INTERNAL if internal else _BY_LENGTH):
        if matches(path, prefix):
            return service
    return None


def strip_prefix(path: str, mount_prefix: str) -> str:
    """Serve both /resources/... and <mount_prefix>/resources/..."""
    if mount_prefix and (path == mount_prefix or path.startswith(mount_prefix + "/")):
        return path[len(mount_prefix):] or "/"
    return path
