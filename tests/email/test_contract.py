"""Frontegg's real client (@frontegg/rest-api) logs in with an emailed code, as its login box
does: preVerifyMFAEmailCode, then verifyMFAEmailCodeV2."""

from __future__ import annotations

import pytest

from tests.conftest import Ids, Stack, unavailable
from tests.contract.frontegg_client import FronteggApiError, FronteggClient, client_installed
from tests.email.conftest import code_in, email_session
from tests.support.codes import wrong_code
from tests.support.smtp_server import SmtpServer

MFA_ACR = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"


@pytest.fixture(autouse=True)
def _client() -> None:
    if not client_installed():
        unavailable("@frontegg/rest-api (npm ci --prefix tests/contract/js)")


async def test_the_real_client_logs_in_with_an_emailed_code(stack: Stack, ids: Ids,
                                                            smtp: SmtpServer) -> None:
    token = await email_session(stack, ids)
    async with FronteggClient(stack.url) as fc:
        pre = await fc.call("auth.preVerifyMFAEmailCode", {"mfaToken": token})
        assert set(pre) == {"otcToken"}
        result = await fc.call("auth.verifyMFAEmailCodeV2", {
            "mfaToken": token, "otcToken": pre["otcToken"], "code": code_in(smtp.messages[0])})
    user = result["user"]
    assert user["sub"] == ids.user and user["tenantId"] == ids.tenant
    assert user["email"] == ids.email and user["acr"] == MFA_ACR
    assert user["amr"] == ["mfa", "otp"] and user["accessToken"].count(".") == 2


async def test_the_real_client_shows_our_errors(stack: Stack, ids: Ids,
                                                smtp: SmtpServer) -> None:
    token = await email_session(stack, ids)
    async with FronteggClient(stack.url) as fc:
        pre = await fc.call("auth.preVerifyMFAEmailCode", {"mfaToken": token})
        with pytest.raises(FronteggApiError) as again:
            await fc.call("auth.preVerifyMFAEmailCode", {"mfaToken": token})
        wrong = wrong_code(code_in(smtp.messages[0]))
        with pytest.raises(FronteggApiError) as bad:
            await fc.call("auth.verifyMFAEmailCodeV2", {
                "mfaToken": token, "otcToken": pre["otcToken"], "code": wrong})
    assert again.value.status_code == 429
    assert again.value.error_code == "ER-MFA-RESEND-COOLDOWN", again.value.error_context
    assert 1 <= (again.value.error_context or {}).get("retryAfter", 0) <= 31
    assert again.value.message == "Please wait before asking for another code"
    assert bad.value.status_code == 400 and bad.value.message == "Invalid or expired code"
    assert bad.value.error_code == "ER-MFA-INVALID-CODE"
