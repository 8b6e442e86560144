"""The credential lifecycle, generated over the factor registry (shared.mfa.registry): for every
kind a user can hold, through the gateway in both modes, every removal path leaves no way in,
the operators' list shows each kind beforehand, and creating one needs what the registry says.

A kind is covered by declaring how a test user comes to hold one and how to try it (HOLD,
below): `test_every_kind_a_path_removes_can_be_held_and_tried` fails for a declared kind
without one, so a new kind cannot slip past these rules."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pyotp
import pytest

from shared.mfa import hotp, registry
from shared.mfa.devices import Device, TooManyDevices, device_aad, new_device_id
from shared.mfa.recovery import new_recovery_code
from shared.mfa.sessions import MAX_CARRIED, session_key
from tests.conftest import PREFIX, Ids, Stack
from tests.support.operator_access import cli, vendor_token
from tests.support.totp_flows import AUTH, USERS, enroll, login
from tests.support.webauthn_flows import (
    ENV as WEBAUTHN_ENV,
)
from tests.support.webauthn_flows import (
    POSTLOGIN,
    PRELOGIN,
    as_posted,
    enroll_at_login,
    register,
)

ADMIN = "/internal/v1/admin/tenants"
RECOVER = "/resources/auth/v1/user/mfa/recover"
SET_VERIFY = "/resources/auth/v1/user/mfa/recovery-codes/verify"
Try = Callable[[], Awaitable[bool]]  # True: the credential still gets its holder in


@pytest.fixture
def extra_env() -> dict[str, str]:
    """WebAuthn's relying party, vendor tokens, every strategy on (SMS too) but email codes
    (an address the host names is no credential of ours: with it on, nobody is unenrolled)."""
    return {**WEBAUTHN_ENV, "MFA_VENDOR_CLAIM": "scope", "MFA_ALLOW_REMEMBER_DEVICE": "true",
            "MFA_STRATEGIES": ",".join(
        s for s in registry.STRATEGIES if s not in registry.EMAIL.strategies)}


async def status(stack: Stack, method: str, path: str, body: Any = None,
                 headers: dict[str, str] | None = None, *, base: str = "",
                 prefix: str = PREFIX) -> tuple[int, Any]:
    """(status, JSON body) of a call, whatever the status (the rules test refusals)."""
    async with stack.http.request(method, (base or stack.url) + prefix + path, json=body,
                                  headers=headers or {}) as r:
        return r.status, await r.json(content_type=None)


# How a test user comes to hold each kind, and how to try it. Ordered: WebAuthn is enrolled
# first, at the login that forces an enrollment; the others are added to the enrolled user.
async def hold_webauthn(stack: Stack, ids: Ids) -> Try:
    e = await enroll_at_login(stack, ids)

    async def attempt() -> bool:
        s = await stack.start_session(ids)
        if "mfaToken" not in s:
            return True
        code, _ = await status(stack, "POST", f"{AUTH}/webauthn/{e.device_id}",
                               {"mfaToken": s["mfaToken"]})
        return code == 200  # options for the key: it would sign in
    return attempt


async def hold_passkey(stack: Stack, ids: Ids) -> Try:
    a = await register(stack, ids)

    async def attempt() -> bool:
        pre = await stack.post(PRELOGIN, {})
        code, _ = await status(stack, "POST", POSTLOGIN, as_posted(a.get(pre["options"])))
        return code == 200
    return attempt


async def hold_totp(stack: Stack, ids: Ids) -> Try:
    seed, _ = await enroll(stack, ids)

    async def attempt() -> bool:
        stack.clock.advance(30)
        token = await login(stack, ids)
        code, _ = await status(stack, "POST", f"{AUTH}/verify",
                               {"mfaToken": token, "value": pyotp.TOTP(seed).at(stack.clock.now())})
        return code == 200
    return attempt


async def hold_hotp(stack: Stack, ids: Ids) -> Try:
    seed, presses = pyotp.random_base32(), 0
    await stack.stores.devices.add(hotp.device(stack.stores, hotp.Token(seed), tenant_id=ids.tenant,
                                               user_id=ids.user, device_id=new_device_id()))

    async def attempt() -> bool:
        nonlocal presses
        token = await login(stack, ids)
        code, _ = await status(stack, "POST", f"{AUTH}/verify",
                               {"mfaToken": token, "value": pyotp.HOTP(seed).at(presses)})
        presses += 1
        return code == 200
    return attempt


async def hold_sms(stack: Stack, ids: Ids) -> Try:
    did = new_device_id()
    await stack.stores.devices.add(Device(
        id=did, tenant_id=ids.tenant, user_id=ids.user, kind="sms",
        created_at=stack.clock.time(), data={"phoneMasked": "+1 *** 0100"},
        secret=stack.stores.cipher.encrypt(b"+12025550100",
                                           device_aad(ids.tenant, ids.user, did))))

    async def attempt() -> bool:
        token = await login(stack, ids)
        code, _ = await status(stack, "POST", f"{AUTH}/sms/{did}", {"mfaToken": token})
        return code == 200  # a code on its way to the phone: a way in
    return attempt


async def hold_recovery(stack: Stack, ids: Ids) -> Try:
    code = new_recovery_code()
    await stack.stores.recovery.replace(ids.tenant, ids.user, ids.email, code)

    async def attempt() -> bool:
        got, _ = await status(stack, "POST", RECOVER, {"email": ids.email, "recoveryCode": code})
        return got == 200
    return attempt


async def hold_recovery_set(stack: Stack, ids: Ids) -> Try:
    codes = await stack.stores.recovery_sets.regenerate(ids.tenant, ids.user, ids.email)

    async def attempt() -> bool:
        s = await stack.start_session(ids)
        if "mfaToken" not in s:
            return True
        got, _ = await status(stack, "POST", SET_VERIFY,
                              {"mfaToken": s["mfaToken"], "recoveryCode": codes[0]})
        again, _ = await status(stack, "POST", RECOVER,
                                {"email": ids.email, "recoveryCode": codes[1]})
        return 200 in (got, again)
    return attempt


async def hold_remembered(stack: Stack, ids: Ids) -> Try:
    token = await stack.stores.remembered.issue(ids.tenant, ids.user, 3600)

    async def attempt() -> bool:
        nonlocal token
        s = await stack.start_session(ids, rememberDeviceToken=token)
        token = s.get("rememberDeviceToken") or token  # each use rotates it
        return s.get("mfaRequired") is False
    return attempt


HOLD: dict[str, Callable[[Stack, Ids], Awaitable[Try]]] = {
    "webauthn": hold_webauthn, "passkey": hold_passkey, "totp": hold_totp, "hotp": hold_hotp,
    "sms": hold_sms,
    "recovery": hold_recovery, "recovery-set": hold_recovery_set,
    "remembered": hold_remembered,
}
REMOVABLE = [k for k in registry.KINDS if k.removed_by - {registry.USER}]


def test_every_kind_a_path_removes_can_be_held_and_tried() -> None:
    assert set(HOLD) == {k.name for k in REMOVABLE}, "declare how to hold and try a new kind"


async def hold_everything(stack: Stack, ids: Ids) -> dict[str, Try]:
    """The user holds one credential of every removable kind; each one works."""
    await stack.start_session(ids)  # the host names the user's email
    tries = {name: await hold(stack, ids) for name, hold in HOLD.items()}
    for name in ("totp", "hotp", "passkey", "remembered"):  # tried without spending them
        assert await tries[name](), f"{name} should work before the removal"
    return tries


def _vendor(stack: Stack, ids: Ids) -> dict[str, str]:
    return {"Authorization": f"Bearer {vendor_token(stack, ids.tenant)}",
            "frontegg-user-id": ids.user, "frontegg-tenant-id": ids.tenant}


def _internal(stack: Stack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.settings.internal_api_key}"}


async def by_admin_api(stack: Stack, ids: Ids, keys: dict[str, str]) -> None:
    code, body = await status(stack, "POST", f"{ADMIN}/{ids.tenant}/users/{ids.user}/reset",
                              {"reason": "ticket"}, _internal(stack), base=stack.operators_url,
                              prefix="")
    assert code == 200, body


async def by_cli(stack: Stack, ids: Ids, keys: dict[str, str]) -> None:
    out, _ = await cli(stack, keys, "reset", ids.tenant, ids.user, "--reason", "ticket")
    removed = json.loads(out)["credentials"]
    assert set(removed) == set(HOLD) - {"remembered"}  # browsers are forgotten, not counted


async def by_vendor_disable(stack: Stack, ids: Ids, keys: dict[str, str]) -> None:
    await stack.post(f"{USERS}/disable", {"reason": "ticket"}, headers=_vendor(stack, ids))


async def by_vendor_unenroll(stack: Stack, ids: Ids, keys: dict[str, str]) -> None:
    await stack.post(f"/resources/vendor-only/users/v1/{ids.user}/mfa/unenroll", {},
                     headers=_vendor(stack, ids))


async def by_recover(stack: Stack, ids: Ids, keys: dict[str, str]) -> None:
    code = new_recovery_code()
    await stack.stores.recovery.replace(ids.tenant, ids.user, ids.email, code)
    await stack.post(RECOVER, {"email": ids.email, "recoveryCode": code})


PATHS: dict[str, tuple[str, Callable[[Stack, Ids, dict[str, str]], Awaitable[None]]]] = {
    "admin-api": (registry.RESET, by_admin_api), "cli": (registry.RESET, by_cli),
    "vendor-disable": (registry.RESET, by_vendor_disable),
    "vendor-unenroll": (registry.UNENROLL, by_vendor_unenroll),
    "recover": (registry.RECOVER, by_recover),
}


def test_every_path_that_removes_credentials_is_driven() -> None:
    assert {path for path, _ in PATHS.values()} == registry.EVERYTHING


@pytest.mark.parametrize("way", list(PATHS))
async def test_after_each_removal_path_no_credential_of_the_user_gets_in(
        stack: Stack, ids: Ids, keys: dict[str, str], way: str) -> None:
    path, remove = PATHS[way]
    tries = await hold_everything(stack, ids)
    _, listed = await status(stack, "GET", f"{ADMIN}/{ids.tenant}/users/{ids.user}/factors",
                             None, _internal(stack), base=stack.operators_url, prefix="")
    counts = {c["kind"]: c["count"] for c in listed["credentials"]}
    assert {k for k, n in counts.items() if n} == set(HOLD), "operators see every kind held"
    assert {f["kind"] for f in listed["factors"]} == {k.name for k in registry.KINDS
                                                      if k.stored}
    await remove(stack, ids, keys)
    removed = {k.name for k in registry.removed_on(path)}
    for name, attempt in tries.items():
        assert not (name in removed and await attempt()), f"{name} still gets in after {way}"
    after = await stack.stores.devices.list_for_user(ids.tenant, ids.user, every=True)
    assert after == []
    start = await stack.start_session(ids)
    assert start["mfaRequired"] is True and start["mfaEnrolled"] is False  # enroll again


async def test_a_set_code_does_not_log_in_a_user_who_holds_no_factor(stack: Stack,
                                                                     ids: Ids) -> None:
    await stack.start_session(ids)
    codes = await stack.stores.recovery_sets.regenerate(ids.tenant, ids.user, ids.email)
    s = await stack.start_session(ids)
    assert s["mfaEnrolled"] is False
    res = await stack.post(SET_VERIFY, {"mfaToken": s["mfaToken"], "recoveryCode": codes[0]},
                           expected_status=400)
    assert res["errorCode"] == "ER-MFA-INVALID-RECOVERY-CODE"


# Who may create what: every kind created by a logged-in user, with the tokens an attacker
# may hold. A `fresh` kind (logs in by itself, or stands in for MFA) needs a recent proven
# factor whatever the tenant set; the others follow enrollRequiresMfaWithin (off by default).
CREATE = {
    "totp": ("POST", f"{USERS}/authenticator/enroll", None),
    "sms": ("POST", f"{USERS}/sms/enroll", {"phoneNumber": "+12025550111"}),
    "webauthn": ("POST", f"{USERS}/webauthn/enroll", None),
    "passkey": ("POST", "/resources/users/webauthn/v1/devices", None),
    "recovery-set": ("POST", f"{USERS}/recovery-codes", None),
}
TOKENS = {  # amr, acr's multi-factor, seconds since auth_time
    "password only": (["pwd"], False, 0),
    "remembered browser": (["mfa", "rmd"], True, 0),
    "recovery code": (["mfa", "rec"], True, 0),
    "factor, stale": (["mfa", "otp"], True, 3600),
    "factor, fresh": (["mfa", "otp"], True, 0),
    "passkey login": (["pwd-less", "hwk"], True, 0),
}


def test_every_kind_a_user_creates_is_tried() -> None:
    assert {k.name for k in registry.KINDS
            if (k.stored or k.fresh) and not k.imported_only} <= set(CREATE)


@pytest.mark.parametrize("kind", list(CREATE))
async def test_who_may_create_each_kind(stack: Stack, ids: Ids, kind: str) -> None:
    await stack.start_session(ids)
    await enroll(stack, ids)  # enrolled: a set needs a factor, and the rules are about more
    method, path, body = CREATE[kind]
    k = registry.kind(kind)
    for i, (name, (amr, mfa, age)) in enumerate(TOKENS.items()):
        stack.clock.advance(61)  # past any resend cooldown of the SMS enrollment
        if body and "phoneNumber" in body:
            body = {"phoneNumber": f"+1202555011{i}"}
        token, _ = stack.stores.tokens.issue(
            user_id=ids.user, tenant_id=ids.tenant, email=ids.email, amr=amr, mfa=mfa,
            auth_time=int(stack.clock.time()) - age)
        code, res = await status(stack, method, path, body, {"Authorization": f"Bearer {token}"})
        proven = name in ("factor, fresh", "passkey login")
        if k.fresh and not proven:
            assert (code, res.get("errorCode")) == (403, "ER-MFA-RECENT-MFA-REQUIRED"), \
                (name, code, res)
        else:
            # Past the creation rules (the SMS service's own hourly send cap may answer).
            assert code == 200 or res.get("errorCode") == "ER-MFA-SEND-LIMIT", (name, code, res)


# Strategies: a kind switched off stops its devices at send and at verify, and leaves them out
# of mfaDevices (the user, left with nothing usable, is offered enrollment).
async def test_a_strategy_switched_off_stops_its_devices(stack: Stack, ids: Ids) -> None:
    await stack.start_session(ids)
    seed, _ = await enroll(stack, ids)
    tries_sms = await hold_sms(stack, ids)
    on = await stack.start_session(ids)
    assert on["mfaDevices"]["authenticators"] and on["mfaDevices"]["phones"]
    await stack.set_policy(ids, strategies=["WebAuthnPlatform", "EmailCode"])
    off = await stack.start_session(ids)
    assert off["mfaDevices"]["authenticators"] == [] and off["mfaDevices"]["phones"] == []
    assert off["mfaDevices"]["emails"]  # what is allowed is offered
    stack.clock.advance(30)
    code, res = await status(stack, "POST", f"{AUTH}/verify",
                             {"mfaToken": off["mfaToken"],
                              "value": pyotp.TOTP(seed).at(stack.clock.now())})
    assert (code, res["errorCode"]) == (403, "ER-MFA-STRATEGY-DISABLED")
    assert not await tries_sms()
    await stack.set_policy(ids, strategies=["WebAuthnPlatform"])
    forced = await stack.start_session(ids)
    assert forced["mfaEnrolled"] is False  # nothing usable left: enroll what is allowed


async def test_passkeys_have_a_strategy_a_tenant_can_switch_off(stack: Stack, ids: Ids) -> None:
    await stack.start_session(ids)
    attempt = await hold_passkey(stack, ids)
    assert await attempt()
    await stack.set_policy(ids, strategies=["AuthenticatorApp"])
    assert not await attempt()
    code, res = await status(stack, "POST", "/resources/users/webauthn/v1/devices", None,
                             {"Authorization": f"Bearer {stack.user_token(ids)}"})
    assert (code, res["errorCode"]) == (403, "ER-MFA-PASSKEYS-NOT-ALLOWED")


# Caps: one over, at enrollment, is refused; parallel enrollments cannot pass it either; the
# mfaToken's Redis record of a user at the caps stays small.
async def test_one_over_the_cap_is_refused_and_the_session_record_stays_small(
        stack: Stack, ids: Ids) -> None:
    await stack.start_session(ids)
    cap = stack.settings.device_caps["totp"]
    for _ in range(cap):
        await enroll(stack, ids)
    res = await stack.post(f"{USERS}/authenticator/enroll", token=stack.user_token(ids),
                           expected_status=409)
    assert res["errorCode"] == "ER-MFA-TOO-MANY-DEVICES"
    extra = Device(id=new_device_id(), tenant_id=ids.tenant, user_id=ids.user, kind="totp",
                   created_at=stack.clock.time())
    with pytest.raises(TooManyDevices):
        await stack.stores.devices.add(extra)
    key = session_key(await login(stack, ids))
    assert key is not None
    raw = await stack.stores.eph.get(key)
    assert raw is not None and len(raw["carried"]) == cap <= MAX_CARRIED
    assert len(json.dumps(raw)) < 8 * 1024


async def test_parallel_enrollments_stop_at_the_cap(stack: Stack, ids: Ids) -> None:
    cap = stack.settings.device_caps["webauthn"]
    devices = [Device(id=new_device_id(), tenant_id=ids.tenant, user_id=ids.user,
                      kind="webauthn", created_at=stack.clock.time(), lookup=f"cred-{i}")
               for i in range(cap + 5)]
    results = await asyncio.gather(*(stack.stores.devices.add(d) for d in devices),
                                   return_exceptions=True)
    assert sum(r is None for r in results) == cap
    assert all(isinstance(r, TooManyDevices) for r in results if r is not None)
    held = await stack.stores.devices.list_for_user(ids.tenant, ids.user, "webauthn")
    assert len(held) == cap


async def test_a_user_holding_only_a_passkey_is_listed_and_reset(stack: Stack, ids: Ids) -> None:
    await stack.start_session(ids)
    attempt = await hold_passkey(stack, ids)
    _, listed = await status(stack, "GET", f"{ADMIN}/{ids.tenant}/users/{ids.user}/factors",
                             None, _internal(stack), base=stack.operators_url, prefix="")
    assert [f["kind"] for f in listed["factors"]] == ["passkey"]
    await stack.post(f"{USERS}/disable", {"reason": "ticket"}, headers=_vendor(stack, ids))
    assert not await attempt()
    code, res = await status(stack, "POST", f"{USERS}/disable", {}, _vendor(stack, ids))
    assert (code, res["errorCode"]) == (400, "ER-01097")  # now nothing is left
