"""`/mfa/recover` limits by network, through the gateway: IPv6 clients count per /64 (a
subscriber holds the whole /64, so a new address per request must not mean a new bucket), and
one email is counted across addresses too."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.conftest import PREFIX, Ids, Stack

RECOVER = "/resources/auth/v1/user/mfa/recover"
EMAIL_LIMIT = 12


@pytest.fixture
def extra_env() -> dict[str, str]:
    """The test client reaches the gateway from 127.0.0.1, trusted as a proxy, so its
    X-Forwarded-For names the client address; a small per-email limit."""
    return {"MFA_TRUSTED_PROXIES": "127.0.0.1/32",
            "MFA_RECOVERY_EMAIL_LIMIT": str(EMAIL_LIMIT)}


async def _recover(stack: Stack, address: str, email: str, code: str = "WRONG-CODE") -> Any:
    res = await stack.http.post(stack.url + PREFIX + RECOVER,
                                json={"email": email, "recoveryCode": code},
                                headers={"X-Forwarded-For": address})
    async with res:
        return res.status, await res.json()


async def test_addresses_of_one_ipv6_64_share_one_limit(stack: Stack) -> None:
    cap = stack.settings.recovery_ip_limit
    answers = [await _recover(stack, f"2001:db8:7:1::{i + 1:x}", f"u{i}@example.test")
               for i in range(cap + 1)]
    assert [s for s, _ in answers[:cap]] == [400] * cap, answers[:cap]
    assert answers[cap][0] == 429 and answers[cap][1]["errorCode"] == "ER-MFA-RECOVERY-LIMIT"
    # Another /64 has its own budget; the limit left one key for the /64, none per address.
    assert (await _recover(stack, "2001:db8:7:2::1", "other@example.test"))[0] == 400
    assert await stack.stores.eph.ttl("recover-ip:2001:db8:7:1::/64") > 0
    assert await stack.stores.eph.ttl("recover-ip:2001:db8:7:1::1") == 0


async def test_one_email_is_counted_across_addresses(stack: Stack, ids: Ids) -> None:
    code = await stack.stores.recovery.issue_if_missing(ids.tenant, ids.user, ids.email)
    answers = await asyncio.gather(*(_recover(stack, f"198.51.100.{i + 1}", ids.email)
                                     for i in range(EMAIL_LIMIT + 3)))
    statuses = [s for s, _ in answers]
    assert statuses.count(400) == EMAIL_LIMIT and statuses.count(429) == 3, statuses
    # Past the email's limit even the right code, from a fresh address, is refused for now.
    status, body = await _recover(stack, "203.0.113.9", ids.email.upper(), code)
    assert (status, body["errorCode"]) == (429, "ER-MFA-RECOVERY-LIMIT")
