"""Request schemas of the webauthn service (marshmallow).

Frontegg's client posts the PublicKeyCredential converted field by field
(docs/frontegg-contract.md section 7): methods appear as `{}` and the raw credential rides
along under `publicKey`. These schemas keep only what py_webauthn reads, so what reaches the
verifier is a clean dict; anything else is dropped, and a missing or mistyped field is a 400
before any challenge is spent.
"""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, fields, post_load, validate

from shared.http.schemas import StrictBoolean

_B64URL = [validate.Regexp(r"^[A-Za-z0-9_-]*$", error="Not unpadded base64url"),
           validate.Length(min=1, max=16384)]
_ID = [validate.Regexp(r"^[A-Za-z0-9_-]+$", error="Not unpadded base64url"),
       validate.Length(min=1, max=1366)]  # a credential id is at most 1023 bytes (section 5.1)
_TOKEN = validate.Length(min=1, max=200)
DEVICE_TYPES = ("Platform", "CrossPlatform")


class _Lenient(Schema):
    class Meta:
        unknown = EXCLUDE


class AttestationResponse(_Lenient):
    """AuthenticatorAttestationResponse (section 5.2.1)."""

    clientDataJSON = fields.String(required=True, validate=_B64URL)
    attestationObject = fields.String(required=True, validate=_B64URL)
    transports = fields.Raw(load_default=None, allow_none=True,
                            metadata={"description": "a list; Frontegg sends the method as {}"})

    @post_load
    def _transports(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        value = data.get("transports")
        data["transports"] = ([t for t in value if isinstance(t, str)][:10]
                              if isinstance(value, list) else [])
        return data


class AssertionResponse(_Lenient):
    """AuthenticatorAssertionResponse (section 5.2.2)."""

    clientDataJSON = fields.String(required=True, validate=_B64URL)
    authenticatorData = fields.String(required=True, validate=_B64URL)
    signature = fields.String(required=True, validate=_B64URL)
    userHandle = fields.String(load_default=None, allow_none=True, validate=_B64URL)


class _Credential(_Lenient):
    id = fields.String(required=True, validate=_ID)
    rawId = fields.String(required=True, validate=_ID)
    type = fields.String(load_default="public-key", validate=validate.Equal("public-key"))
    authenticatorAttachment = fields.Raw(load_default=None, allow_none=True)

    @post_load
    def _attachment(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        if data.get("authenticatorAttachment") not in ("platform", "cross-platform"):
            data["authenticatorAttachment"] = None
        return data


class AttestationCredential(_Credential):
    """The credential create() returned."""

    response = fields.Nested(AttestationResponse, required=True)


class AssertionCredential(_Credential):
    """The credential get() returned."""

    response = fields.Nested(AssertionResponse, required=True)


class MfaTokenBody(_Lenient):
    """Mid-login pre-enroll and pre-verify."""

    mfaToken = fields.String(required=True, validate=_TOKEN)


class _Proof(_Lenient):
    webauthnToken = fields.String(required=True, validate=_TOKEN)


class UserEnroll(_Proof):
    """Logged-in enroll verify."""

    deviceType = fields.String(load_default=None, allow_none=True,
                               validate=validate.OneOf(DEVICE_TYPES))
    options = fields.Nested(AttestationCredential, required=True)


class LoginEnroll(UserEnroll):
    """Forced enrollment during login."""

    mfaToken = fields.String(required=True, validate=_TOKEN)
    rememberDevice = StrictBoolean(load_default=False, allow_none=True)


class UserAssertion(_Proof):
    """Logged-in disable verify."""

    options = fields.Nested(AssertionCredential, required=True)


class LoginVerify(UserAssertion):
    """The second factor during login."""

    mfaToken = fields.String(required=True, validate=_TOKEN)
    rememberDevice = StrictBoolean(load_default=False, allow_none=True)


class _Named(Schema):
    name = fields.String(required=True)
    id = fields.String(required=True)


class RelyingParty(_Named):
    """rp: this service as the WebAuthn relying party."""

    icon = fields.String()


class UserEntity(_Named):
    """user: the account, id an opaque handle in base64url."""

    displayName = fields.String(required=True)


class CredentialParameter(Schema):
    """One accepted public-key algorithm (COSE identifier)."""

    type = fields.String(required=True, validate=validate.Equal("public-key"))
    alg = fields.Integer(required=True)


class CredentialDescriptor(Schema):
    """A credential named by id (excludeCredentials, allowCredentials)."""

    id = fields.String(required=True, validate=_ID)
    type = fields.String(required=True, validate=validate.Equal("public-key"))
    transports = fields.List(fields.String())


class AuthenticatorSelection(Schema):
    """What kind of authenticator may be created."""

    authenticatorAttachment = fields.String(validate=validate.OneOf(
        ("platform", "cross-platform")))
    residentKey = fields.String()
    requireResidentKey = StrictBoolean()
    userVerification = fields.String()


class PublicKeyCreation(Schema):
    """PublicKeyCredentialCreationOptions, binaries in unpadded base64url."""

    rp = fields.Nested(RelyingParty, required=True)
    user = fields.Nested(UserEntity, required=True)
    challenge = fields.String(required=True, validate=_B64URL)
    pubKeyCredParams = fields.List(fields.Nested(CredentialParameter), required=True)
    timeout = fields.Integer()
    excludeCredentials = fields.List(fields.Nested(CredentialDescriptor))
    authenticatorSelection = fields.Nested(AuthenticatorSelection)
    attestation = fields.String()
    hints = fields.List(fields.String())


class PublicKeyRequest(Schema):
    """PublicKeyCredentialRequestOptions, binaries in unpadded base64url."""

    challenge = fields.String(required=True, validate=_B64URL)
    timeout = fields.Integer()
    rpId = fields.String()
    allowCredentials = fields.List(fields.Nested(CredentialDescriptor))
    userVerification = fields.String()
    hints = fields.List(fields.String())


class CreationOptions(Schema):
    """{webauthnToken, options}: options go to navigator.credentials.create()."""

    webauthnToken = fields.String(required=True)
    options = fields.Nested(PublicKeyCreation, required=True)


class RequestOptions(Schema):
    """{webauthnToken, options}: options go to navigator.credentials.get()."""

    webauthnToken = fields.String(required=True)
    options = fields.Nested(PublicKeyRequest, required=True)


class PreLogin(_Lenient):
    """Passkey prelogin: {email} or {userId} (+ recaptchaToken), or {} (iOS); none of it is
    used to pick credentials (a discoverable login names no account)."""

    email = fields.String(load_default=None, allow_none=True,
                          validate=validate.Length(max=320))
    userId = fields.String(load_default=None, allow_none=True,
                           validate=validate.Length(max=200))
    recaptchaToken = fields.String(load_default=None, allow_none=True,
                                   validate=validate.Length(max=4096))


class PasskeyRegistration(_Lenient):
    """verifyNewDeviceSession: {id, response: {clientDataJSON, attestationObject},
    deviceType} (iOS adds authenticatorAttachment; rawId and type may be absent)."""

    id = fields.String(required=True, validate=_ID)
    rawId = fields.String(load_default=None, allow_none=True, validate=_ID)
    response = fields.Nested(AttestationResponse, required=True)
    deviceType = fields.String(load_default=None, allow_none=True,
                               validate=validate.OneOf(DEVICE_TYPES))
    authenticatorAttachment = fields.Raw(load_default=None, allow_none=True)

    @post_load
    def _credential(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        attachment = data.get("authenticatorAttachment")
        return {"deviceType": data["deviceType"], "credential": {
            "id": data["id"], "rawId": data["rawId"] or data["id"], "type": "public-key",
            "response": data["response"],
            "authenticatorAttachment": attachment if attachment in ("platform",
                                                                    "cross-platform") else None}}


class PasskeyCreation(Schema):
    """{options} for navigator.credentials.create() (Frontegg's store reads `options`)."""

    options = fields.Nested(PublicKeyCreation, required=True)


class PasskeyRequest(Schema):
    """{options} for navigator.credentials.get(); timeout, rpId, userVerification and the
    challenge always present (Frontegg's iOS SDK needs all four)."""

    options = fields.Nested(PublicKeyRequest, required=True)


class Passkey(Schema):
    """One passkey: Frontegg's id, deviceType, createdAt, and our name and lastUsedAt."""

    id = fields.String(required=True)
    deviceType = fields.String(required=True, validate=validate.OneOf(DEVICE_TYPES))
    createdAt = fields.String(required=True)
    name = fields.String()
    lastUsedAt = fields.String(allow_none=True)


class Passkeys(Schema):
    """getWebAuthnDevices: {devices}."""

    devices = fields.List(fields.Nested(Passkey), required=True)


class HtmlPage(Schema):
    """A text/html (or script) document, not JSON."""
