"""Smoke: the stack starts in both modes and a session starts."""

from tests.conftest import Ids, Stack


async def test_session_start_for_new_user_offers_enrollment(stack: Stack, ids: Ids) -> None:
    body = await stack.start_session(ids)
    assert body["mfaRequired"] is True
    assert body["mfaEnrolled"] is False
    assert set(body["mfaDevices"]) == {"webauthn", "phones", "authenticators", "emails"}
    assert body["qrCode"].startswith("data:image/png;base64,")
    assert len(body["mfaToken"]) >= 43
