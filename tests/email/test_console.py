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


def _console_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "mfa.email.console"]


async def test_without_smtp_embedded_mode_logs_the_code_and_split_mode_answers_503(
        stack: Stack, ids: Ids, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    token = await email_session(stack, ids)
    if stack.mode == "split":  # production shape: never a console fallback
        body = await stack.post(SEND, {"mfaToken": token}, expected_status=503)
        assert body["errorCode"] == "ER-MFA-EMAIL-NOT-CONFIGURED"
        assert _console_records(caplog) == []
        return
    otc = await request_code(stack, token)
    [record] = _console_records(caplog)
    assert record.levelno == logging.WARNING and "DEVELOPMENT ONLY" in record.getMessage()
    fields = str(record.fields)  # type: ignore[attr-defined]
    assert ids.email not in fields and token not in fields and otc not in fields
    [code] = set(re.findall(r"\b[0-9]{6}\b", record.fields["text"]))  # type: ignore[attr-defined]
    await verify(stack, token, otc, code)
