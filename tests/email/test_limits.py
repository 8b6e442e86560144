"""Send limits: the resend cooldown (default 30 s); refused sends are 429 and send nothing."""

from __future__ import annotations

import asyncio

from tests.conftest import PREFIX, Ids, Stack
from tests.email.conftest import SEND, email_session, request_code
from tests.support.smtp_server import SmtpServer


async def test_a_resend_within_the_cooldown_is_refused_with_a_retry_hint(
        stack: Stack, ids: Ids, smtp: SmtpServer) -> None:
    token = await email_session(stack, ids)
    await request_code(stack, token)
    async with stack.http.post(stack.url + PREFIX + SEND, json={"mfaToken": token}) as r:
        body = await r.json()
        assert r.status == 429
        assert 1 <= int(r.headers["Retry-After"]) <= 31
    assert body["errorCode"] == "ER-MFA-RESEND-COOLDOWN"
    assert 1 <= body["context"]["retryAfter"] <= 31 and body["errors"]
    assert len(smtp.messages) == 1


async def test_the_cooldown_is_per_user_across_sessions(stack: Stack, ids: Ids,
                                                        smtp: SmtpServer) -> None:
    await request_code(stack, await email_session(stack, ids))
    again = (await stack.start_session(ids))["mfaToken"]
    await stack.post(SEND, {"mfaToken": again}, expected_status=429)
    await request_code(stack, await email_session(stack, ids.other()))
    assert len(smtp.messages) == 2


async def test_parallel_sends_deliver_exactly_one_mail(stack: Stack, ids: Ids,
                                                       smtp: SmtpServer) -> None:
    token = await email_session(stack, ids)

    async def one() -> int:
        async with stack.http.post(stack.url + PREFIX + SEND, json={"mfaToken": token}) as r:
            return r.status

    statuses = await asyncio.gather(*(one() for _ in range(6)))
    assert sorted(statuses) == [200] + [429] * 5
    assert len(smtp.messages) == 1
