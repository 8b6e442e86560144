"""SoftAuthenticator proven directly against py_webauthn 3.0.1 (no server, no browser)."""

import json
from dataclasses import dataclass
from typing import Any

import cbor2
import pytest
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import decode_credential_public_key, parse_authenticator_data
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.exceptions import (
    InvalidAuthenticationResponse,
    InvalidRegistrationResponse,
)
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from .soft_authenticator import (
    COSE_ALG_EDDSA,
    COSE_ALG_ES256,
    InvalidStateError,
    NotAllowedError,
    NotSupportedError,
    SecurityError,
    SoftAuthenticator,
    b64url_decode,
    b64url_encode,
)

RP_ID = "localhost"
ORIGIN = "http://localhost:8443"
USER_ID = b"user-0001-\x00\xff"

REGISTRATION_KEYS = {
    "id",
    "type",
    "rawId",
    "authenticatorAttachment",
    "response",
    "getClientExtensionResults",
    "toJSON",
}
REGISTRATION_RESPONSE_KEYS = {
    "clientDataJSON",
    "attestationObject",
    "getTransports",
    "getAuthenticatorData",
    "getPublicKey",
    "getPublicKeyAlgorithm",
}
ASSERTION_RESPONSE_KEYS = {"clientDataJSON", "authenticatorData", "signature", "userHandle"}


@dataclass
class Registered:
    """A verified registration: what the server would store."""

    auth: SoftAuthenticator
    credential_id: bytes
    public_key: bytes
    sign_count: int


def registration_options(
    *,
    exclude: list[bytes] | None = None,
    algs: list[COSEAlgorithmIdentifier] | None = None,
    resident: bool = True,
) -> tuple[dict[str, Any], bytes]:
    """Options as the server sends them (JSON-decoded) plus the expected challenge."""
    opts = generate_registration_options(
        rp_id=RP_ID,
        rp_name="MFA test",
        user_name="alice@example.com",
        user_id=USER_ID,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED
            if resident
            else ResidentKeyRequirement.DISCOURAGED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[PublicKeyCredentialDescriptor(id=cid) for cid in exclude or []],
        supported_pub_key_algs=algs,
    )
    return json.loads(options_to_json(opts)), opts.challenge


def authentication_options(allow: list[bytes] | None = None) -> tuple[dict[str, Any], bytes]:
    """Authentication options as the server sends them plus the expected challenge."""
    opts = generate_authentication_options(
        rp_id=RP_ID,
        allow_credentials=[PublicKeyCredentialDescriptor(id=cid) for cid in allow or []],
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return json.loads(options_to_json(opts)), opts.challenge


def verify_registration(credential: dict[str, Any], challenge: bytes, **kw: Any) -> Any:
    """Verify a registration like the server would (RP_ID, ORIGIN); py_webauthn's result."""
    return verify_registration_response(credential=credential, expected_challenge=challenge,
                                        expected_rp_id=RP_ID, expected_origin=ORIGIN, **kw)


def register(auth: SoftAuthenticator, **create_kwargs: Any) -> Registered:
    """Run a full registration and verify it like the server would."""
    options, challenge = registration_options()
    credential = auth.create(options, **create_kwargs)
    verified = verify_registration(credential, challenge, require_user_verification=True)
    return Registered(
        auth, verified.credential_id, verified.credential_public_key, verified.sign_count
    )


def verify_assertion(reg: Registered, assertion: dict[str, Any], challenge: bytes) -> int:
    """Verify an assertion like the server would; return the new sign count."""
    result = verify_authentication_response(
        credential=assertion,
        expected_challenge=challenge,
        expected_rp_id=RP_ID,
        expected_origin=ORIGIN,
        credential_public_key=reg.public_key,
        credential_current_sign_count=reg.sign_count,
        require_user_verification=True,
    )
    assert result.credential_id == reg.credential_id
    assert result.user_verified is True
    return result.new_sign_count


def assert_unpadded_b64url(value: str) -> None:
    """A binary field as Frontegg's client posts it: unpadded base64url."""
    assert isinstance(value, str) and value
    assert "=" not in value and "+" not in value and "/" not in value
    b64url_decode(value)


# ---------------------------------------------------------------------------- happy paths


@pytest.mark.parametrize("alg", ["ES256", "EdDSA"])
@pytest.mark.parametrize("attachment", ["platform", "cross-platform"])
def test_register_then_authenticate(alg: Any, attachment: Any) -> None:
    auth = SoftAuthenticator(origin=ORIGIN, alg=alg, attachment=attachment)
    options, challenge = registration_options()
    # py_webauthn's default order is -8, -7, -257: ES256 must still pick -7.
    assert [p["alg"] for p in options["pubKeyCredParams"]] == [-8, -7, -257]
    credential = auth.create(options)
    verified = verify_registration(credential, challenge, require_user_verification=True)
    assert str(getattr(verified.fmt, "value", verified.fmt)) == "none"
    assert verified.aaguid == "00000000-0000-0000-0000-000000000000"
    assert verified.sign_count == 0
    assert verified.user_verified is True
    assert b64url_encode(verified.credential_id) == credential["id"] == auth.credential_ids[0]
    expected_alg = COSE_ALG_ES256 if alg == "ES256" else COSE_ALG_EDDSA
    assert decode_credential_public_key(verified.credential_public_key).alg == expected_alg
    assert credential["authenticatorAttachment"] == attachment

    reg = Registered(auth, verified.credential_id, verified.credential_public_key, 0)
    for expected_count in (1, 2, 3):
        options, challenge = authentication_options([reg.credential_id])
        assertion = auth.get(options)
        assert assertion["authenticatorAttachment"] == attachment
        new_count = verify_assertion(reg, assertion, challenge)
        assert new_count == expected_count == auth.sign_count(reg.credential_id)
        reg.sign_count = new_count


def test_registration_shape_matches_frontegg_client() -> None:
    auth = SoftAuthenticator(origin=ORIGIN)
    options, challenge = registration_options()
    credential = auth.create(options)

    assert set(credential) == REGISTRATION_KEYS
    assert set(credential["response"]) == REGISTRATION_RESPONSE_KEYS
    assert credential["type"] == "public-key"
    assert credential["id"] == credential["rawId"]
    for method in ("getClientExtensionResults", "toJSON"):
        assert credential[method] == {}
    for method in (
        "getTransports",
        "getAuthenticatorData",
        "getPublicKey",
        "getPublicKeyAlgorithm",
    ):
        assert credential["response"][method] == {}
    for value in (
        credential["rawId"],
        credential["response"]["clientDataJSON"],
        credential["response"]["attestationObject"],
    ):
        assert_unpadded_b64url(value)

    client_data = b64url_decode(credential["response"]["clientDataJSON"])
    assert client_data == (
        b'{"type":"webauthn.create","challenge":"'
        + b64url_encode(challenge).encode()
        + b'","origin":"http://localhost:8443","crossOrigin":false}'
    )

    attestation = cbor2.loads(b64url_decode(credential["response"]["attestationObject"]))
    assert list(attestation) == ["fmt", "attStmt", "authData"]
    assert attestation["fmt"] == "none" and attestation["attStmt"] == {}
    auth_data = parse_authenticator_data(attestation["authData"])
    assert auth_data.flags.up and auth_data.flags.uv and auth_data.flags.at
    assert not (auth_data.flags.be or auth_data.flags.bs or auth_data.flags.ed)
    attested = auth_data.attested_credential_data
    assert attested is not None
    assert attested.aaguid == bytes(16)
    assert 16 <= len(attested.credential_id) <= 32
    assert b64url_encode(attested.credential_id) == credential["id"]


def test_assertion_shape_matches_frontegg_client() -> None:
    reg = register(SoftAuthenticator(origin=ORIGIN))
    options, challenge = authentication_options([reg.credential_id])
    assertion = reg.auth.get(options)

    assert set(assertion) == REGISTRATION_KEYS
    assert set(assertion["response"]) == ASSERTION_RESPONSE_KEYS
    assert assertion["type"] == "public-key"
    assert assertion["getClientExtensionResults"] == {} and assertion["toJSON"] == {}
    for key in ("clientDataJSON", "authenticatorData", "signature", "userHandle"):
        assert_unpadded_b64url(assertion["response"][key])
    assert b64url_decode(assertion["response"]["userHandle"]) == USER_ID
    client_data = json.loads(b64url_decode(assertion["response"]["clientDataJSON"]))
    assert client_data == {
        "type": "webauthn.get",
        "challenge": b64url_encode(challenge),
        "origin": ORIGIN,
        "crossOrigin": False,
    }
    auth_data = parse_authenticator_data(b64url_decode(assertion["response"]["authenticatorData"]))
    assert auth_data.flags.up and auth_data.flags.uv and not auth_data.flags.at
    assert auth_data.sign_count == 1


def test_non_resident_credential_has_null_user_handle_and_needs_allow_list() -> None:
    auth = SoftAuthenticator(origin=ORIGIN)
    options, _ = registration_options(resident=False)
    cred_id = b64url_decode(auth.create(options)["id"])

    options, _ = authentication_options([cred_id])
    assert auth.get(options)["response"]["userHandle"] is None
    options, _ = authentication_options([])
    with pytest.raises(NotAllowedError):
        auth.get(options)


def test_discoverable_login_uses_newest_resident_credential() -> None:
    auth = SoftAuthenticator(origin=ORIGIN)
    first = register(auth)
    second = register(auth)
    options, challenge = authentication_options([])
    assert "allowCredentials" not in options or options["allowCredentials"] == []
    assertion = auth.get(options)
    assert b64url_decode(assertion["id"]) == second.credential_id
    verify_assertion(second, assertion, challenge)

    # allowCredentials order picks the credential; credential_id= forces one.
    options, challenge = authentication_options([first.credential_id, second.credential_id])
    assert b64url_decode(auth.get(options)["id"]) == first.credential_id
    options, challenge = authentication_options([first.credential_id])
    forced = auth.get(options, credential_id=second.credential_id)
    assert b64url_decode(forced["id"]) == second.credential_id


def test_sign_count_start() -> None:
    reg = register(SoftAuthenticator(origin=ORIGIN, sign_count_start=41))
    assert reg.sign_count == 41
    options, challenge = authentication_options([reg.credential_id])
    assert verify_assertion(reg, reg.auth.get(options), challenge) == 42


def test_rp_id_defaults_to_origin_host_and_parent_domain_is_allowed() -> None:
    auth = SoftAuthenticator(origin="https://app.example.com")
    assert auth.rp_id == "app.example.com"
    opts = generate_registration_options(
        rp_id="example.com", rp_name="x", user_name="bob", user_id=b"bob"
    )
    credential = auth.create(json.loads(options_to_json(opts)))
    verify_registration_response(
        credential=credential,
        expected_challenge=opts.challenge,
        expected_rp_id="example.com",
        expected_origin="https://app.example.com",
    )


# ---------------------------------------------------------------------------- algorithm choice


def test_es256_only_options_work_for_es256() -> None:
    auth = SoftAuthenticator(origin=ORIGIN, alg="ES256")
    options, _ = registration_options(algs=[COSEAlgorithmIdentifier.ECDSA_SHA_256])
    auth.create(options)
    assert auth.credentials[0].alg == COSE_ALG_ES256


def test_alg_not_offered_fails_clearly() -> None:
    auth = SoftAuthenticator(origin=ORIGIN, alg="EdDSA")
    options, _ = registration_options(algs=[COSEAlgorithmIdentifier.ECDSA_SHA_256])
    with pytest.raises(NotSupportedError, match="EdDSA"):
        auth.create(options)
    assert auth.credential_ids == []


def test_server_restricting_algs_rejects_other_key() -> None:
    # The authenticator answered with EdDSA, the server only accepts ES256.
    auth = SoftAuthenticator(origin=ORIGIN, alg="EdDSA")
    options, challenge = registration_options()
    credential = auth.create(options)
    with pytest.raises(InvalidRegistrationResponse, match="Unsupported credential public key alg"):
        verify_registration(credential, challenge,
                            supported_pub_key_algs=[COSEAlgorithmIdentifier.ECDSA_SHA_256])


# ---------------------------------------------------------------------------- browser-side refusals


def test_exclude_credentials_raises_invalid_state() -> None:
    auth = SoftAuthenticator(origin=ORIGIN)
    reg = register(auth)
    options, _ = registration_options(exclude=[b"someone-else-credential", reg.credential_id])
    with pytest.raises(InvalidStateError):
        auth.create(options)
    # A different authenticator is not blocked by the first one's credential.
    other = SoftAuthenticator(origin=ORIGIN)
    other.create(options)
    assert len(auth.credential_ids) == 1 and len(other.credential_ids) == 1


def test_unknown_credential_raises_not_allowed() -> None:
    auth = SoftAuthenticator(origin=ORIGIN)
    register(auth)
    options, _ = authentication_options([b"not-one-of-mine-0123"])
    with pytest.raises(NotAllowedError):
        auth.get(options)


def test_rp_id_not_matching_origin_is_a_security_error() -> None:
    # As in the browser recipe: page at 127.0.0.1 with rpId localhost.
    auth = SoftAuthenticator(origin="http://127.0.0.1:8443")
    options, _ = registration_options()
    with pytest.raises(SecurityError):
        auth.create(options)


def test_padded_or_standard_base64_options_are_refused() -> None:
    auth = SoftAuthenticator(origin=ORIGIN)
    options, _ = registration_options()
    assert len(options["challenge"]) % 4 != 0  # a 64-byte challenge would carry "==" if padded
    padded = dict(options, challenge=options["challenge"] + "=" * (-len(options["challenge"]) % 4))
    with pytest.raises(ValueError, match="unpadded"):
        auth.create(padded)
    with pytest.raises(ValueError, match="unpadded"):
        auth.create(dict(options, challenge="ab+/cd=="))


def test_b64url_helpers() -> None:
    for raw in (b"", b"\x00", b"\xfb\xff", b"\xfb\xff\xbf", bytes(range(256))):
        encoded = b64url_encode(raw)
        assert "=" not in encoded and "+" not in encoded and "/" not in encoded
        assert b64url_decode(encoded) == raw
    assert b64url_encode(b"\xfb\xff") == "-_8"
    for bad in ("-_8=", "+/8", "abcde", "ab cd"):
        with pytest.raises(ValueError):
            b64url_decode(bad)


# ---------------------------------------------------------------------------- server-side negatives


def test_wrong_origin_registration_rejected() -> None:
    auth = SoftAuthenticator(origin=ORIGIN)
    options, challenge = registration_options()
    credential = auth.create(options, origin="https://evil.example")
    with pytest.raises(InvalidRegistrationResponse, match="Unexpected client data origin"):
        verify_registration(credential, challenge)


def test_wrong_origin_authentication_rejected() -> None:
    reg = register(SoftAuthenticator(origin=ORIGIN))
    options, challenge = authentication_options([reg.credential_id])
    # A foreign origin, and the right origin with a trailing slash.
    for assertion in (
        reg.auth.get(options, origin="https://evil.example"),
        reg.auth.get(options, origin=ORIGIN + "/"),
    ):
        with pytest.raises(InvalidAuthenticationResponse, match="Unexpected client data origin"):
            verify_assertion(reg, assertion, challenge)


def test_wrong_origin_from_constructor_rejected() -> None:
    reg = register(SoftAuthenticator(origin=ORIGIN))
    reg.auth.origin = "http://localhost:1"
    options, challenge = authentication_options([reg.credential_id])
    with pytest.raises(InvalidAuthenticationResponse, match="Unexpected client data origin"):
        verify_assertion(reg, reg.auth.get(options), challenge)


def test_wrong_rp_id_registration_rejected() -> None:
    for auth, kwargs in (
        (SoftAuthenticator(origin=ORIGIN, rp_id="evil.example"), {}),
        (SoftAuthenticator(origin=ORIGIN), {"rp_id": "evil.example"}),
    ):
        options, challenge = registration_options()
        credential = auth.create(options, **kwargs)
        with pytest.raises(InvalidRegistrationResponse, match="Unexpected RP ID hash"):
            verify_registration(credential, challenge)


def test_wrong_rp_id_authentication_rejected() -> None:
    reg = register(SoftAuthenticator(origin=ORIGIN))
    options, challenge = authentication_options([reg.credential_id])
    assertion = reg.auth.get(options, rp_id="evil.example")
    with pytest.raises(InvalidAuthenticationResponse, match="Unexpected RP ID hash"):
        verify_assertion(reg, assertion, challenge)


def test_replayed_assertion_rejected_for_new_challenge() -> None:
    reg = register(SoftAuthenticator(origin=ORIGIN))
    options, old_challenge = authentication_options([reg.credential_id])
    assertion = reg.auth.get(options)
    reg.sign_count = verify_assertion(reg, assertion, old_challenge)

    _, new_challenge = authentication_options([reg.credential_id])
    with pytest.raises(InvalidAuthenticationResponse, match="challenge was not expected"):
        verify_assertion(reg, assertion, new_challenge)
    # Even against the old challenge the stored counter now refuses it.
    with pytest.raises(InvalidAuthenticationResponse, match="sign count"):
        verify_assertion(reg, assertion, old_challenge)


def test_replayed_registration_rejected_for_new_challenge() -> None:
    auth = SoftAuthenticator(origin=ORIGIN)
    options, _ = registration_options()
    credential = auth.create(options)
    _, other_challenge = registration_options()
    with pytest.raises(InvalidRegistrationResponse, match="challenge was not expected"):
        verify_registration(credential, other_challenge)


@pytest.mark.parametrize("alg", ["ES256", "EdDSA"])
def test_tampered_signature_rejected(alg: Any) -> None:
    reg = register(SoftAuthenticator(origin=ORIGIN, alg=alg))
    options, challenge = authentication_options([reg.credential_id])
    assertion = reg.auth.get(options)
    tampered = SoftAuthenticator.tamper_signature(assertion)
    assert tampered["response"]["signature"] != assertion["response"]["signature"]
    with pytest.raises(InvalidAuthenticationResponse, match="Could not verify authentication"):
        verify_assertion(reg, tampered, challenge)
    assert verify_assertion(reg, assertion, challenge) == 1  # the original was not mutated


def test_counter_regression_rejected() -> None:
    reg = register(SoftAuthenticator(origin=ORIGIN))
    for _ in range(5):
        options, challenge = authentication_options([reg.credential_id])
        reg.sign_count = verify_assertion(reg, reg.auth.get(options), challenge)
    assert reg.sign_count == 5

    for regressed in (2, 4):  # next assertion reports 3 (below stored 5), then 5 (equal)
        reg.auth.set_sign_count(reg.credential_id, regressed)
        options, challenge = authentication_options([reg.credential_id])
        assertion = reg.auth.get(options)
        with pytest.raises(InvalidAuthenticationResponse, match="was not greater than current"):
            verify_assertion(reg, assertion, challenge)

    reg.auth.set_sign_count(b64url_encode(reg.credential_id), 9)  # str ids work too
    options, challenge = authentication_options([reg.credential_id])
    assert verify_assertion(reg, reg.auth.get(options), challenge) == 10


def test_user_not_verified_rejected_when_required() -> None:
    auth = SoftAuthenticator(origin=ORIGIN, user_verified=False)
    options, challenge = registration_options()
    credential = auth.create(options)
    with pytest.raises(InvalidRegistrationResponse, match="User verification is required"):
        verify_registration(credential, challenge, require_user_verification=True)
    verified = verify_registration(credential, challenge)
    assert verified.user_verified is False
