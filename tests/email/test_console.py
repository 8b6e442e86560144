"""Without MFA_SMTP_HOST: embedded mode logs the mail (development only), split mode refuses."""

from __future__ import annotations

import logging
import re

import pytest

from tests.conftest import Ids, Stack
from tests.email.conftest import SEND, email_session, request_code, verify


@pytest.fixture
def extra_env() -> dict[str, str]:
    """No SMTP server configured."""
    return {}


async def test_embedded_mode_logs_the_code_marked_development_only(
        stack: Stack, ids: Ids, caplog: pytest.LogCaptureFixture) -> None:
    if stack.mode != "embedded":
        pytest.skip("the console sender exists only in embedded mode")
    caplog.set_level(logging.WARNING, logger="mfa.email.console")
    token = await email_session(stack, ids)
    otc = await request_code(stack, token)
    [record] = [r for r in caplog.records if r.name == "mfa.email.console"]
    assert "DEVELOPMENT ONLY" in record.getMessage()
    fields = record.fields  # type: ignore[attr-defined]
    assert ids.email not in str(fields) and token not in str(fields) and otc not in str(fields)
    [code] = set(re.findall(r"\b[0-9]{6}\b", fields["text"]))
    await verify(stack, token, otc, code)


async def test_split_mode_without_smtp_answers_503_and_never_logs_a_code(
        stack: Stack, ids: Ids, caplog: pytest.LogCaptureFixture) -> None:
    if stack.mode != "split":
        pytest.skip("split mode has no console fallback")
    caplog.set_level(logging.DEBUG)
    token = await email_session(stack, ids)
    body = await stack.post(SEND, {"mfaToken": token}, expected_status=503)
    assert body["errorCode"] == "ER-MFA-EMAIL-NOT-CONFIGURED"
    assert not [r for r in caplog.records if r.name == "mfa.email.console"]
