"""Fixtures of the WebAuthn tests."""

from __future__ import annotations

import pytest

from tests.support.webauthn_flows import ENV


@pytest.fixture
def extra_env() -> dict[str, str]:
    """The test relying party (test_browser.py's own page overrides it)."""
    return ENV
