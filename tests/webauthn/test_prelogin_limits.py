"""Passkey prelogin limits, through the gateway: IPv6 clients count per /64, and the whole
deployment holds a bounded number of outstanding login challenges."""

from __future__ import annotations

import pytest

from services.webauthn.passkeys import PRELOGIN_PER_MINUTE
from tests.conftest import PREFIX, Stack

PRELOGIN = "/resources/auth/v1/webauthn/prelogin"
CEILING = 70


@pytest.fixture
def extra_env() -> dict[str, str]:
    """X-Forwarded-For believed from the test client (127.0.0.1); a small ceiling."""
    return {"MFA_TRUSTED_PROXIES": "127.0.0.1/32",
            "MFA_WEBAUTHN_PASSKEY_CHALLENGES": str(CEILING)}


@pytest.fixture(autouse=True)
async def fresh_ceiling(stack: Stack) -> None:
    """The ceiling counts the whole run's prelogins (one Redis prefix): start from none."""
    await stack.stores.eph.delete("passkey:prelogin-all")


async def _prelogin(stack: Stack, address: str) -> tuple[int, dict[str, object]]:
    async with stack.http.post(stack.url + PREFIX + PRELOGIN, json={},
                               headers={"X-Forwarded-For": address}) as r:
        return r.status, await r.json()


async def test_addresses_of_one_ipv6_64_share_one_limit(stack: Stack) -> None:
    answers = [await _prelogin(stack, f"2001:db8:5:1::{i + 1:x}")
               for i in range(PRELOGIN_PER_MINUTE + 1)]
    assert [s for s, _ in answers[:-1]] == [200] * PRELOGIN_PER_MINUTE
    assert answers[-1][0] == 429 and answers[-1][1]["errorCode"] == "ER-MFA-PASSKEY-LIMIT"
    assert (await _prelogin(stack, "2001:db8:5:2::1"))[0] == 200  # another /64


async def test_outstanding_challenges_are_bounded_per_deployment(stack: Stack) -> None:
    statuses = [(await _prelogin(stack, f"198.51.100.{i + 1}"))[0] for i in range(CEILING)]
    assert statuses == [200] * CEILING
    status, body = await _prelogin(stack, "203.0.113.1")
    assert (status, body["errorCode"]) == (429, "ER-MFA-PASSKEY-LIMIT")
