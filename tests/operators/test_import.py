"""Importing existing enrollments: the native JSON-lines import through the admin CLI (an
otpauth URI export and a WebAuthn credential made by the software authenticator, then logging
in with both), idempotent, per-line errors; and Frontegg's migration routes' MFA fields."""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any

import pyotp
import pytest

from tests.conftest import Ids, Stack
from tests.support.operator_access import cli, vendor_token
from tests.support.operator_access import key as vendor_key
from tests.support.records import events
from tests.support.responses import assert_envelope
from tests.support.soft_authenticator import SoftAuthenticator, b64url_encode
from tests.support.totp_flows import AUTH, enroll
from tests.support.webauthn_flows import AUTH as WEBAUTHN_AUTH
from tests.support.webauthn_flows import ENV, RP_ID, key, verify_body

LOCAL = "/resources/migrations/v1/local"


@pytest.fixture
def extra_env() -> dict[str, str]:
    return {**ENV, "MFA_VENDOR_CLAIM": "scope", "MFA_VENDOR_UNBOUND": "true"}


def old_system_credential() -> tuple[SoftAuthenticator, dict[str, Any]]:
    """A key registered with the old system: the software authenticator's credential, as an
    import line's webauthn entry."""
    k = key()
    k.create({"challenge": b64url_encode(secrets.token_bytes(32)),
              "rp": {"id": RP_ID, "name": "Old"},
              "user": {"id": b64url_encode(secrets.token_bytes(16)), "name": "u",
                       "displayName": "u"},
              "pubKeyCredParams": [{"type": "public-key", "alg": -7}]})
    [c] = k.credentials
    c.sign_count = 41  # it has been used there
    return k, {"credentialId": c.id, "publicKey": b64url_encode(c.cose_public_key),
               "signCount": 41, "transports": ["usb"], "deviceType": "CrossPlatform"}


def import_file(tmp_path: Any, lines: list[Any]) -> str:
    path = tmp_path / "import.jsonl"
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line)
                              for line in lines) + "\n")
    return str(path)


async def test_the_cli_imports_an_otpauth_export_and_a_webauthn_key_and_they_log_in(
        stack: Stack, ids: Ids, keys: dict[str, str], tmp_path: Any) -> None:
    seed = pyotp.random_base32(32)
    uri = (f"otpauth://totp/Old%20IdP:{ids.email}?secret={seed}&issuer=Old%20IdP"
           "&algorithm=SHA256&digits=8&period=60")
    k, credential = old_system_credential()
    other = ids.other()
    lines = [{"tenantId": ids.tenant, "userId": ids.user, "email": ids.email,
              "totp": [{"otpauth": uri}], "webauthn": [credential]},
             "{not json",
             {"tenantId": ids.tenant, "userId": "u-bad", "totp": [{"secret": "not base32!"}]},
             {"tenantId": other.tenant, "userId": other.user, "phones": ["+12015550123"]}]
    path = import_file(tmp_path, lines)
    out, _ = await cli(stack, keys, "import", path, status=1)
    results = [json.loads(line) for line in out.splitlines()]
    assert [r["ok"] for r in results[:-1]] == [True, False, False, True]
    assert results[0]["added"] == 2 and results[3]["added"] == 1
    assert "totp[0]: not base32" in results[2]["error"] and results[1]["line"] == 2
    assert results[-1] == {"imported": 2, "failed": 2}
    assert seed not in out and "2015550123" not in out
    again, _ = await cli(stack, keys, "import", path, status=1)  # idempotent
    repeat = [json.loads(line) for line in again.splitlines()]
    assert (repeat[0]["added"], repeat[0]["existing"]) == (0, 2)
    assert len(await stack.stores.devices.list_for_user(ids.tenant, ids.user)) == 2

    # The imported user logs in without enrolling: the old app's 8-digit SHA256 codes ...
    start = await stack.start_session(ids)
    assert start["mfaEnrolled"] is True and "secret" not in start
    [app] = start["mfaDevices"]["authenticators"]
    old_app = pyotp.TOTP(seed, digits=8, digest=hashlib.sha256, interval=60)
    body = await stack.post(f"{AUTH}/{'authenticator'}/{app['id']}/verify",
                            {"mfaToken": start["mfaToken"], "value": old_app.at(stack.clock.now())})
    assert body["mfaRequired"] is False and body["amr"] == ["mfa", "otp"]
    # ... and the old security key, its counter carried over.
    [device] = (await stack.start_session(ids))["mfaDevices"]["webauthn"]
    s = await stack.start_session(ids)
    pre = await stack.post(f"{WEBAUTHN_AUTH}/{device['id']}", {"mfaToken": s["mfaToken"]})
    body = await stack.post(f"{WEBAUTHN_AUTH}/{device['id']}/verify",
                            verify_body(s["mfaToken"], pre, k.get(pre["options"])))
    assert body["amr"] == ["mfa", "hwk"]
    stored = await stack.stores.devices.get(ids.tenant, ids.user, device["id"])
    assert stored is not None and stored.sign_count == 42
    rows = await stack.stores.audit.for_user(ids.tenant, ids.user)
    assert sorted(r["factor"] for r in rows if r["action"] == "import") == ["totp", "webauthn"]
    assert not any(seed in str(r) for r in rows)


async def test_a_credential_another_user_holds_is_refused(stack: Stack, ids: Ids,
                                                          keys: dict[str, str],
                                                          tmp_path: Any) -> None:
    _, credential = old_system_credential()
    other = ids.other()
    path = import_file(tmp_path, [
        {"tenantId": ids.tenant, "userId": ids.user, "webauthn": [credential]},
        {"tenantId": other.tenant, "userId": other.user, "webauthn": [credential]}])
    out, _ = await cli(stack, keys, "import", path, status=1)
    results = [json.loads(line) for line in out.splitlines()]
    assert results[0]["ok"] is True
    assert "registered to another user" in results[1]["error"]
    assert await stack.stores.devices.list_for_user(other.tenant, other.user) == []


async def test_frontegg_migration_imports_the_mfa_fields(stack: Stack, ids: Ids) -> None:
    seed = pyotp.random_base32()
    body = {"tenantId": ids.tenant, "email": ids.email, "userId": ids.user, "name": "Ada",
            "passwordHash": "$2b$...", "authenticatorAppMfaSecret": seed,
            "phoneNumber": "+12015550123"}
    dto = await stack.post(LOCAL, body, headers=vendor_key(stack), expected_status=201)
    assert dto == {"id": ids.user, "email": ids.email, "tenantId": ids.tenant,
                   "mfaEnrolled": True, "phoneNumber": "+1******0123"}
    again = await stack.post(LOCAL, body, headers=vendor_key(stack), expected_status=201)
    assert again == dto
    devices = await stack.stores.devices.list_for_user(ids.tenant, ids.user)
    assert sorted(d.kind for d in devices) == ["sms", "totp"]
    start = await stack.start_session(ids)
    assert start["mfaEnrolled"] is True
    res = await stack.post(f"{AUTH}/verify", {"mfaToken": start["mfaToken"],
                                              "value": pyotp.TOTP(seed).at(stack.clock.now())})
    assert res["mfaRequired"] is False


async def test_frontegg_migration_finds_a_known_user_by_email_and_refuses_bad_input(
        stack: Stack, ids: Ids) -> None:
    seed = pyotp.random_base32()
    unknown = {"tenantId": ids.tenant, "email": ids.email, "authenticatorAppMfaSecret": seed}
    res = await stack.post(LOCAL, unknown, headers=vendor_key(stack), expected_status=400)
    assert "userId" in res["errors"][0]
    await stack.start_session(ids)  # the host has introduced the user by email
    dto = await stack.post(LOCAL, unknown, headers=vendor_key(stack), expected_status=201)
    assert dto["id"] == ids.user and dto["mfaEnrolled"] is True
    for bad in ({"email": ids.email}, {"tenantId": ids.tenant, "email": "nope"},
                {**unknown, "authenticatorAppMfaSecret": "%%%"},
                {**unknown, "phoneNumber": "12345"}, {**unknown, "phoneNumber": 5}):
        assert_envelope(await stack.post(LOCAL, bad, headers=vendor_key(stack),
                                         expected_status=400))
    assert len(await stack.stores.devices.list_for_user(ids.tenant, ids.user)) == 1
    foreign = await stack.post(LOCAL, unknown, token=vendor_token(stack, tenant="t-other"),
                               expected_status=400)
    assert "another tenant" in foreign["errors"][0]
    user = stack.user_token(ids)
    assert_envelope(await stack.post(LOCAL, unknown, token=user, expected_status=403))
    assert_envelope(await stack.post(LOCAL, unknown, expected_status=401))


async def test_frontegg_bulk_migration_reports_each_user(stack: Stack, ids: Ids) -> None:
    a, b = ids, ids.other()
    users = [{"tenantId": a.tenant, "email": a.email, "userId": a.user,
              "authenticatorAppMfaSecret": pyotp.random_base32()},
             {"tenantId": b.tenant, "emails": [{"email": "old@example.test", "primary": False},
                                               {"email": b.email, "primary": True}],
              "userId": b.user, "phoneNumber": "+12015550124"},
             {"tenantId": a.tenant, "email": "x@example.test", "userId": "u-x",
              "authenticatorAppMfaSecret": "short"}]
    started = await stack.post("/resources/migrations/v2/local/bulk", {"users": users},
                               headers=vendor_key(stack), expected_status=202)
    status = await stack.get(f"/resources/migrations/v1/local/bulk/status/"
                             f"{started['migrationId']}", headers=vendor_key(stack))
    assert status["state"] == "completed" and (status["total"], status["migrated"]) == (3, 2)
    assert [e["index"] for e in status["errors"]] == [2]
    assert await stack.stores.devices.list_for_user(b.tenant, b.user)
    assert_envelope(await stack.get("/resources/migrations/v1/local/bulk/status/nope",
                                    headers=vendor_key(stack), expected_status=404))
    assert_envelope(await stack.post("/resources/migrations/v1/local/bulk", {"users": []},
                                     headers=vendor_key(stack), expected_status=400))


async def test_an_import_into_an_enrolled_user_needs_force_and_then_is_an_enrollment(
        stack: Stack, ids: Ids) -> None:
    await stack.start_session(ids)  # the host stored the user's email
    await enroll(stack, ids)
    remembered = await stack.stores.remembered.issue(ids.tenant, ids.user, 3600)
    old = stack.user_token(ids)
    stack.clock.advance(2)
    vendor = {"Authorization": f"Bearer {vendor_token(stack, tenant=ids.tenant)}"}
    planted = {"tenantId": ids.tenant, "email": "attacker@evil.test", "userId": ids.user,
               "authenticatorAppMfaSecret": pyotp.random_base32()}
    res = await stack.post(LOCAL, planted, headers=vendor, expected_status=409)
    assert res["errorCode"] == "ER-MFA-ALREADY-ENROLLED" and "force" in res["errors"][0]
    bulk = await stack.post("/resources/migrations/v1/local/bulk", {"users": [planted]},
                            headers=vendor, expected_status=202)
    status = await stack.get(f"/resources/migrations/v1/local/bulk/status/"
                             f"{bulk['migrationId']}", headers=vendor)
    assert status["migrated"] == 0 and [e["index"] for e in status["errors"]] == [0]
    assert len(await stack.stores.devices.list_for_user(ids.tenant, ids.user)) == 1
    assert await stack.stores.users.email_of(ids.tenant, ids.user) == ids.email
    # With force: an enrollment, with everything an enrollment does; the email stays.
    await stack.post(LOCAL, {**planted, "force": True}, headers=vendor, expected_status=201)
    assert len(await stack.stores.devices.list_for_user(ids.tenant, ids.user)) == 2
    assert await stack.stores.users.email_of(ids.tenant, ids.user) == ids.email
    assert "mfa.factor.enrolled" in await events(stack, ids)
    start = await stack.start_session(ids, rememberDeviceToken=remembered)
    assert start["mfaRequired"] is True  # the remembered browser was forgotten
    res = await stack.get("/resources/users/v1/mfa/devices", token=old, expected_status=401)
    assert res["errorCode"] == "ER-MFA-TOKEN-RETIRED"


async def test_an_import_of_a_new_user_is_an_event_and_stays_under_the_caps(
        stack: Stack, ids: Ids, tmp_path: Any, keys: dict[str, str]) -> None:
    cap = stack.settings.device_caps["sms"]
    line = {"tenantId": ids.tenant, "userId": ids.user, "email": ids.email,
            "phones": [f"+1201555{i:04d}" for i in range(cap + 1)]}
    out, _ = await cli(stack, keys, "import", import_file(tmp_path, [line]), status=1)
    result = json.loads(out.splitlines()[0])
    assert result["ok"] is False and "at most" in result["error"]
    assert await stack.stores.devices.list_for_user(ids.tenant, ids.user) == []
    line["phones"] = line["phones"][:cap]
    out, _ = await cli(stack, keys, "import", import_file(tmp_path, [line]))
    assert json.loads(out.splitlines()[0])["added"] == cap
    assert (await events(stack, ids)).count("mfa.factor.imported") == cap


async def test_bulk_migration_validates_emails_like_v1(stack: Stack, ids: Ids) -> None:
    """The review's L13: a CR/LF in a V2 email would poison the notifier's headers and the
    passkey tokens' email claim; the record is refused by its index, the stored email kept."""
    await stack.start_session(ids)  # the host's call records the user's email
    users = [{"tenantId": ids.tenant, "userId": ids.user, "authenticatorAppMfaSecret":
              pyotp.random_base32(), "emails": [{"email": bad, "primary": True}]}
             for bad in ("a@b.c\r\nBcc: x@y.test", "no-at-sign", "x@y")]
    started = await stack.post("/resources/migrations/v2/local/bulk", {"users": users},
                               headers=vendor_key(stack), expected_status=202)
    status = await stack.get(f"/resources/migrations/v1/local/bulk/status/"
                             f"{started['migrationId']}", headers=vendor_key(stack))
    assert status["migrated"] == 0 and [e["index"] for e in status["errors"]] == [0, 1, 2]
    assert all("valid email" in e["error"] for e in status["errors"]), status["errors"]
    assert await stack.stores.users.email_of(ids.tenant, ids.user) == ids.email
    assert await stack.stores.devices.list_for_user(ids.tenant, ids.user) == []
