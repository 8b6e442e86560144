"""The operators service's own settings: the security-event webhook dispatcher's (MFA_WEBHOOK_*,
read once by shared.settings.Settings), checked at start in create_app."""

from __future__ import annotations

from dataclasses import dataclass

from services.operators.webhooks import WebhookConfig
from shared.settings import Settings


@dataclass(frozen=True)
class OperatorsConfig:
    """What the operators service runs besides its routes; webhooks None = no dispatcher."""

    webhooks: WebhookConfig | None = None


def load(settings: Settings) -> OperatorsConfig:
    """The dispatcher's endpoints, key and timing (Settings.validate has checked the key)."""
    if not settings.webhook_urls:
        return OperatorsConfig()
    return OperatorsConfig(webhooks=WebhookConfig(
        urls=settings.webhook_urls, secret=settings.webhook_secret,
        timeout=settings.webhook_timeout, backoff_cap=settings.webhook_max_backoff))
