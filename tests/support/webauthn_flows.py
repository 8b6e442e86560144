"""Drive the webauthn routes through the gateway with the software authenticator."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from tests.conftest import Ids, Stack
from tests.support.soft_authenticator import Alg, Attachment, SoftAuthenticator

RP_ID = "example.test"
ORIGIN = "https://app.example.test"
OTHER_ORIGIN = "https://login.example.test"
ENV = {"MFA_WEBAUTHN_RP_ID": RP_ID, "MFA_WEBAUTHN_RP_NAME": "Example",
       "MFA_WEBAUTHN_ORIGINS": f"{ORIGIN}, {OTHER_ORIGIN}"}
AUTH = "/resources/auth/v1/user/mfa/webauthn"
USERS = "/resources/users/v1/mfa/webauthn"
PRELOGIN = "/resources/auth/v1/webauthn/prelogin"
POSTLOGIN = "/resources/auth/v1/webauthn/postlogin"
DEVICES = "/resources/users/webauthn/v1/devices"
DEVICE_TYPE = {"platform": "Platform", "cross-platform": "CrossPlatform"}


def key(alg: Alg = "ES256", attachment: Attachment = "cross-platform", **kw: Any
        ) -> SoftAuthenticator:
    """A fresh authenticator in a page at ORIGIN."""
    return SoftAuthenticator(origin=ORIGIN, alg=alg, attachment=attachment, **kw)


def as_posted(assertion: dict[str, Any]) -> dict[str, Any]:
    """What Frontegg's store posts: the credential at the top level, methods as {}, a null
    userHandle dropped, recaptchaToken added."""
    body = copy.deepcopy(assertion)
    if body["response"].get("userHandle") is None:
        body["response"].pop("userHandle", None)
    return {**body, "recaptchaToken": "t"}


@dataclass
class Enrolled:
    """A user with one WebAuthn device, after a forced enrollment at login."""

    ids: Ids
    key: SoftAuthenticator
    device_id: str
    login: dict[str, Any]
    session: dict[str, Any]


def enroll_body(mfa_token: str, pre: dict[str, Any], cred: dict[str, Any],
                **extra: Any) -> dict[str, Any]:
    """What Frontegg's store posts to enroll/verify (with the raw credential under publicKey)."""
    return {"mfaToken": mfa_token, "webauthnToken": pre["webauthnToken"],
            "deviceType": DEVICE_TYPE[cred["authenticatorAttachment"]], "options": cred,
            "publicKey": {}, **extra}


async def enroll_at_login(stack: Stack, ids: Ids, k: SoftAuthenticator | None = None,
                          **extra: Any) -> Enrolled:
    """Session start, pre-enroll, create(), enroll/verify; the login response and device."""
    k = k or key()
    s = await stack.start_session(ids)
    pre = await stack.post(f"{AUTH}/enroll", {"mfaToken": s["mfaToken"]})
    login = await stack.post(f"{AUTH}/enroll/verify",
                             enroll_body(s["mfaToken"], pre, k.create(pre["options"]), **extra))
    devices = await stack.stores.devices.list_for_user(ids.tenant, ids.user, "webauthn")
    return Enrolled(ids, k, devices[-1].id, login, s)


async def pre_verify(stack: Stack, e: Enrolled) -> tuple[str, dict[str, Any]]:
    """A new login's mfaToken and the pre-verify answer for the enrolled device."""
    s = await stack.start_session(e.ids)
    pre = await stack.post(f"{AUTH}/{e.device_id}", {"mfaToken": s["mfaToken"]})
    return s["mfaToken"], pre


def verify_body(mfa_token: str, pre: dict[str, Any], assertion: dict[str, Any],
                **extra: Any) -> dict[str, Any]:
    """What Frontegg's store posts to {deviceId}/verify."""
    return {"mfaToken": mfa_token, "webauthnToken": pre["webauthnToken"], "options": assertion,
            "rememberDevice": False, "publicKey": {}, **extra}


async def sign_count(stack: Stack, e: Enrolled) -> int:
    """The counter the server holds for the device."""
    d = await stack.stores.devices.get(e.ids.tenant, e.ids.user, e.device_id)
    assert d is not None
    return d.sign_count


async def register(stack: Stack, ids: Ids, authenticator: SoftAuthenticator | None = None
                   ) -> SoftAuthenticator:
    """A logged-in user registers a passkey as Frontegg's store does."""
    a = authenticator or key(attachment="platform")
    token = stack.user_token(ids)
    opts = (await stack.post(DEVICES, data=b"", token=token))["options"]
    assert opts["authenticatorSelection"]["residentKey"] == "required"
    assert opts["authenticatorSelection"]["userVerification"] == "required"
    cred = a.create({**opts, "excludeCredentials": []})
    device_type = "Platform" if cred["authenticatorAttachment"] == "platform" else "CrossPlatform"
    body = {"id": cred["id"], "response": {k: cred["response"][k]
                                           for k in ("clientDataJSON", "attestationObject")},
            "deviceType": device_type}
    assert await stack.post(f"{DEVICES}/verify", body, token=token) == {}
    return a


async def passkey_login(stack: Stack, a: SoftAuthenticator, *, status: int = 200,
                        change: Any = None, **get: Any) -> dict[str, Any]:
    """A discoverable login with that authenticator, as Frontegg's store does it."""
    pre = await stack.post(PRELOGIN, {"email": "whoever@example.test"})
    assertion = as_posted(a.get(pre["options"], **get))
    if change:
        change(assertion)
    body: dict[str, Any] = await stack.post(POSTLOGIN, assertion, expected_status=status)
    return body
