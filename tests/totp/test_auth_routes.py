"""Mid-login routes (mfaToken): verify, enroll, and the deprecated /user/mfa/verify, through
the gateway in embedded and split mode."""

from __future__ import annotations

import jwt
import pyotp

from services.totp.otp import DUMMY_SEED
from services.totp.schemas import Enrollment
from shared.http.schemas import LoginResponse
from tests.conftest import Ids, Stack
from tests.support.codes import wrong_code
from tests.support.totp_flows import AUTH, USERS, code, enroll, failures, login


def claims(body: dict) -> dict:
    """The access token's claims (signature checked elsewhere: it is the JWKS's job)."""
    return jwt.decode(body["accessToken"], options={"verify_signature": False})


async def test_login_code_on_deprecated_verify_logs_in(stack: Stack, ids: Ids) -> None:
    seed, device_id = await enroll(stack, ids)
    token = await login(stack, ids)
    body = await stack.post(f"{AUTH}/verify", {"mfaToken": token, "value": code(stack, seed),
                                               "rememberDevice": False, "mfaDevices": {}})
    assert body["mfaRequired"] is False and LoginResponse().validate(body) == {}
    assert claims(body)["sub"] == ids.user and claims(body)["amr"] == ["mfa", "otp"]
    assert "recoveryCode" not in body and "rememberDeviceToken" not in body
    device = await stack.stores.devices.get(ids.tenant, ids.user, device_id)
    assert device is not None and device.last_step == int(stack.clock.time()) // 30


async def test_login_code_on_device_verify_logs_in(stack: Stack, ids: Ids) -> None:
    seed, device_id = await enroll(stack, ids)
    token = await login(stack, ids)
    body = await stack.post(f"{AUTH}/authenticator/{device_id}/verify",
                            {"mfaToken": token, "value": code(stack, seed)})
    assert claims(body)["tenantId"] == ids.tenant


async def test_verify_consumes_the_mfa_token(stack: Stack, ids: Ids) -> None:
    seed, _ = await enroll(stack, ids)
    token = await login(stack, ids)
    await stack.post(f"{AUTH}/verify", {"mfaToken": token, "value": code(stack, seed)})
    stack.clock.advance(30)
    body = await stack.post(f"{AUTH}/verify", {"mfaToken": token, "value": code(stack, seed)},
                            expected_status=401)
    assert body["errorCode"] == "ER-MFA-INVALID-MFA-TOKEN"


async def test_wrong_code_is_400_and_counted(stack: Stack, ids: Ids) -> None:
    seed, _ = await enroll(stack, ids)
    token = await login(stack, ids)
    body = await stack.post(f"{AUTH}/verify",
                            {"mfaToken": token, "value": wrong_code(code(stack, seed))},
                            expected_status=400)
    assert body == {"errors": ["Invalid or expired code"], "errorCode": "ER-MFA-INVALID-CODE"}
    assert len(await failures(stack, ids)) == 1
    await stack.post(f"{AUTH}/verify", {"mfaToken": token, "value": code(stack, seed)})


async def test_unknown_and_foreign_device_answer_like_a_wrong_code(stack: Stack, ids: Ids
                                                                   ) -> None:
    seed, device_id = await enroll(stack, ids)
    other = ids.other()
    other_seed, other_device = await enroll(stack, other)
    token = await login(stack, ids)
    answers = []
    for dev, value in ((device_id, wrong_code(code(stack, seed))),
                       ("no-such-device", code(stack, seed)),
                       (other_device, code(stack, other_seed))):
        answers.append(await stack.post(f"{AUTH}/authenticator/{dev}/verify",
                                        {"mfaToken": token, "value": value},
                                        expected_status=400))
    assert answers[0] == answers[1] == answers[2]
    assert len(await failures(stack, ids)) == 3
    foreign = await stack.stores.devices.get(other.tenant, other.user, other_device)
    assert foreign is not None and foreign.last_step < int(stack.clock.time()) // 30


async def test_unknown_device_checks_a_dummy_seed(stack: Stack, ids: Ids, monkeypatch) -> None:
    """Same work for an unknown device: one seed decrypted, one window computed, and (for the
    wrong code) the clock-drift probe run on it."""
    import services.totp.proof as proof

    seen: list[str] = []
    real = proof.totp_for
    monkeypatch.setattr(proof, "totp_for", lambda seed: seen.append(seed) or real(seed))
    seed, device_id = await enroll(stack, ids)
    token = await login(stack, ids)
    for dev in (device_id, "no-such-device"):
        await stack.post(f"{AUTH}/authenticator/{dev}/verify",
                         {"mfaToken": token, "value": wrong_code(code(stack, seed))},
                         expected_status=400)
    assert seen == [seed, seed, DUMMY_SEED, DUMMY_SEED]


async def test_code_from_previous_step_is_accepted_two_steps_old_is_not(stack: Stack, ids: Ids
                                                                        ) -> None:
    seed, _ = await enroll(stack, ids)
    stack.clock.advance(60)  # the enrollment's step is two steps back now, and spent
    token = await login(stack, ids)
    await stack.post(f"{AUTH}/verify", {"mfaToken": token, "value": code(stack, seed, -2)},
                     expected_status=400)
    await stack.post(f"{AUTH}/verify", {"mfaToken": token, "value": code(stack, seed, -1)})


async def test_bad_input_is_400_and_changes_nothing(stack: Stack, ids: Ids) -> None:
    seed, _ = await enroll(stack, ids)
    token = await login(stack, ids)
    for body in ({"mfaToken": token}, {"mfaToken": token, "value": 123456},
                 {"value": code(stack, seed)}, {"mfaToken": token, "value": "1" * 65}):
        res = await stack.post(f"{AUTH}/verify", body, expected_status=400)
        assert res["errorCode"] == "ER-MFA-VALIDATION"
    res = await stack.post(f"{AUTH}/verify", data=b"{not json", expected_status=400)
    assert res["errorCode"] == "ER-MFA-MALFORMED-JSON"
    assert await failures(stack, ids) == []
    await stack.post(f"{AUTH}/verify", {"mfaToken": token, "value": code(stack, seed)})


async def test_unknown_mfa_token_is_401(stack: Stack, ids: Ids) -> None:
    for path in ("/verify", "/authenticator/enroll", "/authenticator/enroll/verify",
                 "/authenticator/x/verify"):
        res = await stack.post(f"{AUTH}{path}",
                               {"mfaToken": "nope", "value": "123456", "token": "123456"},
                               expected_status=401)
        assert res["errorCode"] == "ER-MFA-INVALID-MFA-TOKEN"


async def test_auth_pre_enroll_and_enroll_verify_log_in_with_recovery_code(stack: Stack,
                                                                           ids: Ids) -> None:
    start = await stack.start_session(ids)
    pre = await stack.post(f"{AUTH}/authenticator/enroll", {"mfaToken": start["mfaToken"]})
    assert pre["secret"] == start["secret"] and Enrollment().validate(pre) == {}
    assert pre["qrCode"].startswith("data:image/png;base64,")
    body = await stack.post(f"{AUTH}/authenticator/enroll/verify",
                            {"mfaToken": start["mfaToken"], "token": code(stack, pre["secret"]),
                             "rememberDevice": False})
    assert body["recoveryCode"] == start["recoveryCode"] and LoginResponse().validate(body) == {}
    assert claims(body)["sub"] == ids.user
    devices = await stack.stores.devices.list_for_user(ids.tenant, ids.user, "totp")
    assert len(devices) == 1 and devices[0].secret and pre["secret"] not in devices[0].secret


async def test_auth_enroll_wrong_code_is_counted_and_enrolls_nothing(stack: Stack, ids: Ids
                                                                     ) -> None:
    start = await stack.start_session(ids)
    res = await stack.post(f"{AUTH}/authenticator/enroll/verify",
                           {"mfaToken": start["mfaToken"],
                            "token": wrong_code(code(stack, start["secret"]))}, expected_status=400)
    assert res["errorCode"] == "ER-MFA-INVALID-CODE"
    assert await stack.stores.devices.list_for_user(ids.tenant, ids.user) == []
    assert len(await failures(stack, ids)) == 1


async def test_enrolled_user_cannot_enroll_mid_login(stack: Stack, ids: Ids) -> None:
    seed, _ = await enroll(stack, ids)
    token = await login(stack, ids)
    res = await stack.post(f"{AUTH}/authenticator/enroll", {"mfaToken": token},
                           expected_status=403)
    assert res["errorCode"] == "ER-MFA-ALREADY-ENROLLED"
    fresh = pyotp.random_base32()
    res = await stack.post(f"{AUTH}/authenticator/enroll/verify",
                           {"mfaToken": token, "token": code(stack, fresh)}, expected_status=403)
    assert len(await stack.stores.devices.list_for_user(ids.tenant, ids.user)) == 1


async def test_mid_login_enroll_refused_when_policy_lacks_the_app(stack: Stack, ids: Ids
                                                                  ) -> None:
    await stack.set_policy(ids, strategies=["WebAuthnPlatform"])
    start = await stack.start_session(ids)
    assert "secret" not in start
    res = await stack.post(f"{AUTH}/authenticator/enroll", {"mfaToken": start["mfaToken"]},
                           expected_status=403)
    assert res["errorCode"] == "ER-MFA-STRATEGY-DISABLED"


async def test_forced_enrollment_finishes_on_deprecated_verify(stack: Stack, ids: Ids) -> None:
    start = await stack.start_session(ids)
    assert start["mfaEnrolled"] is False
    assert start["qrCode"].startswith("data:image/png;base64,")
    uri = pyotp.parse_uri(f"otpauth://totp/x?secret={start['secret']}")
    assert uri.secret == start["secret"]
    body = await stack.post(f"{AUTH}/verify", {"mfaToken": start["mfaToken"],
                                               "value": code(stack, start["secret"])})
    assert body["recoveryCode"] == start["recoveryCode"]
    assert claims(body)["sub"] == ids.user
    stack.clock.advance(30)
    token = await login(stack, ids)
    again = await stack.start_session(ids)
    assert again["mfaEnrolled"] is True and "secret" not in again
    assert len(again["mfaDevices"]["authenticators"]) == 1
    await stack.post(f"{AUTH}/verify", {"mfaToken": token, "value": code(stack, start["secret"])})


async def test_forced_enrollment_code_is_spent(stack: Stack, ids: Ids) -> None:
    start = await stack.start_session(ids)
    used = code(stack, start["secret"])
    await stack.post(f"{AUTH}/verify", {"mfaToken": start["mfaToken"], "value": used})
    token = await login(stack, ids)
    await stack.post(f"{AUTH}/verify", {"mfaToken": token, "value": used}, expected_status=400)


async def test_second_user_recovery_code_is_not_shown_again(stack: Stack, ids: Ids) -> None:
    """Only the first enrollment hands out a recovery code; a later one answers without it."""
    seed, _ = await enroll(stack, ids)
    token = stack.user_token(ids)
    pre = await stack.post(f"{USERS}/authenticator/enroll", token=token)
    body = await stack.post(f"{USERS}/authenticator/enroll/verify",
                            {"token": code(stack, pre["secret"])}, token=token)
    assert body == {}
    assert seed != pre["secret"]


async def test_forced_re_enrollment_hands_out_a_fresh_recovery_code(stack: Stack, ids: Ids
                                                                     ) -> None:
    """A user who removed their only authenticator but kept their unused recovery code enrolls
    again at login: the session start and the verify answer carry a fresh code (Frontegg's
    login box shows its "save your recovery code" screen after every forced enrollment), and
    the old code stops working."""
    first = await stack.start_session(ids)
    done = await stack.post(f"{AUTH}/verify", {"mfaToken": first["mfaToken"],
                                               "value": code(stack, first["secret"])})
    old = done["recoveryCode"]
    assert old == first["recoveryCode"]
    stack.clock.advance(30)
    device = (await stack.stores.devices.list_for_user(ids.tenant, ids.user, "totp"))[0]
    await stack.post(f"{USERS}/authenticator/{device.id}/disable/verify",
                     {"token": code(stack, first["secret"])}, token=stack.user_token(ids))
    assert await stack.stores.recovery.has_code(ids.tenant, ids.user)
    start = await stack.start_session(ids)
    fresh = start["recoveryCode"]
    assert fresh and fresh != old
    body = await stack.post(f"{AUTH}/verify", {"mfaToken": start["mfaToken"],
                                               "value": code(stack, start["secret"])})
    assert body["mfaRequired"] is False and body["recoveryCode"] == fresh
    recover = "/resources/auth/v1/user/mfa/recover"
    refused = await stack.post(recover, {"email": ids.email, "recoveryCode": old},
                               expected_status=400)
    assert refused["errorCode"] == "ER-MFA-INVALID-RECOVERY-CODE"
    await stack.post(recover, {"email": ids.email, "recoveryCode": fresh})
    assert await stack.stores.devices.list_for_user(ids.tenant, ids.user) == []
