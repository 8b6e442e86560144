"""Prove the Frontegg client harness against a recording aiohttp server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict

try:
    import frontegg_client as fc_module
except ImportError:  # tests/ and tests/contract/ became packages
    from tests.contract import frontegg_client as fc_module  # type: ignore[no-redef]

FronteggApiError = fc_module.FronteggApiError
FronteggClient = fc_module.FronteggClient
FronteggHarnessError = fc_module.FronteggHarnessError

pytestmark = pytest.mark.asyncio

IDENTITY = "/frontegg/identity"
EMAIL_CODE = "/resources/auth/v1/user/mfa/emailcode"
EMAIL_CODE_VERIFY = "/resources/auth/v1/user/mfa/emailcode/verify"
USERS_AUTHENTICATOR_ENROLL = "/resources/users/v1/mfa/authenticator/enroll"
USERS_SMS_ENROLL = "/resources/users/v1/mfa/sms/enroll"
ALLOW_REMEMBER = "/resources/configurations/v1/mfa-policy/allow-remember-device"


@dataclass
class RecordedRequest:
    """One request as the fake server received it."""

    method: str
    path: str
    raw_query: str
    headers: CIMultiDict[str]
    body: bytes

    def json(self) -> Any:
        """Decode the body as JSON."""
        return json.loads(self.body)


@dataclass
class FakeFrontegg:
    """An aiohttp app that records every request and answers per (method, path)."""

    requests: list[RecordedRequest] = field(default_factory=list)
    answers: dict[tuple[str, str], tuple[int, bytes]] = field(default_factory=dict)
    base_url: str = ""

    def answer(self, method: str, path: str, status: int = 200, body: Any = None) -> None:
        """Answer METHOD path with status and a JSON body (bytes are sent verbatim)."""
        raw = body if isinstance(body, bytes) else json.dumps({} if body is None else body).encode()
        self.answers[(method, path)] = (status, raw)

    async def handle(self, request: web.Request) -> web.Response:
        """Record the request, then send the configured answer (default 200 {})."""
        path, _, raw_query = request.raw_path.partition("?")
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=path,
                raw_query=raw_query,
                headers=CIMultiDict(request.headers),
                body=await request.read(),
            )
        )
        status, body = self.answers.get((request.method, path), (200, b"{}"))
        return web.Response(status=status, body=body, content_type="application/json")

    def only_request(self) -> RecordedRequest:
        """Return the single recorded request, failing if there were more or none."""
        assert len(self.requests) == 1, [(r.method, r.path) for r in self.requests]
        return self.requests[0]


ServerFactory = Callable[..., Awaitable[TestServer]]


@pytest_asyncio.fixture
async def fake(aiohttp_server: ServerFactory) -> FakeFrontegg:
    """Start the recording server on 127.0.0.1 and return it."""
    fake = FakeFrontegg()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fake.handle)
    server = await aiohttp_server(app)
    fake.base_url = str(server.make_url("")).rstrip("/")
    return fake


def make_jwt(**claims: Any) -> str:
    """Sign an HS256 JWT with the given claims."""
    return jwt.encode(claims, "harness-secret-at-least-32-bytes-long!", algorithm="HS256")


async def test_pre_verify_email_code_posts_mfa_token_without_authorization(
    fake: FakeFrontegg,
) -> None:
    fake.answer("POST", IDENTITY + EMAIL_CODE, 200, {"otcToken": "OTC-1"})
    async with FronteggClient(fake.base_url) as fc:
        result = await fc.call("auth.preVerifyMFAEmailCode", {"mfaToken": "MT-1"})

    assert result == {"otcToken": "OTC-1"}
    req = fake.only_request()
    assert (req.method, req.path, req.raw_query) == ("POST", IDENTITY + EMAIL_CODE, "")
    assert req.json() == {"mfaToken": "MT-1"}
    assert "Authorization" not in req.headers
    assert req.headers["Content-Type"] == "application/json"
    assert fc.client_version == "7.119.0"
    assert {"auth", "users", "securityPolicy"} <= set(fc.groups)


async def test_users_enroll_sends_empty_json_post_with_bearer(fake: FakeFrontegg) -> None:
    fake.answer("POST", IDENTITY + USERS_AUTHENTICATOR_ENROLL, 201, {"qrCode": "data:QR"})
    token = make_jwt(sub="user-1", tenantId="tenant-1")
    async with FronteggClient(fake.base_url) as fc:
        result = await fc.call("auth.preEnrollMFAAuthenticatorApp", access_token=token)

    assert result == {"qrCode": "data:QR"}
    req = fake.only_request()
    assert (req.method, req.path) == ("POST", IDENTITY + USERS_AUTHENTICATOR_ENROLL)
    assert req.body == b""
    assert req.headers["Content-Length"] == "0"
    assert req.headers["Content-Type"] == "application/json"
    assert req.headers["Authorization"] == f"Bearer {token}"


async def test_error_answer_becomes_frontegg_api_error(fake: FakeFrontegg) -> None:
    fake.answer(
        "POST",
        IDENTITY + EMAIL_CODE_VERIFY,
        400,
        {"errors": ["Invalid code"], "errorCode": "ER-01234"},
    )
    body = {"mfaToken": "MT", "otcToken": "OTC", "code": "000000"}
    async with FronteggClient(fake.base_url) as fc:
        with pytest.raises(FronteggApiError) as info:
            await fc.call("auth.verifyMFAEmailCode", body)

    err = info.value
    assert err.name == "FronteggApiError"
    assert err.message == "Invalid code"
    assert err.status_code == 400
    assert err.error_code == "ER-01234"
    assert err.errors == ["Invalid code"]
    assert fake.only_request().json() == body


async def test_v2_call_merges_jwt_claims_and_skips_user_loading(fake: FakeFrontegg) -> None:
    claims = {"sub": "user-1", "email": "u@example.com", "tenantId": "tenant-1", "amr": ["mfa"]}
    access_token = make_jwt(**claims)
    login_response = {
        "accessToken": access_token,
        "refreshToken": "refresh-1",
        "expiresIn": 86400,
        "mfaRequired": False,
    }
    fake.answer("POST", IDENTITY + EMAIL_CODE_VERIFY, 200, login_response)
    body = {"mfaToken": "MT", "otcToken": "OTC", "code": "123456", "rememberDevice": True}
    async with FronteggClient(fake.base_url) as fc:
        result = await fc.call("auth.verifyMFAEmailCodeV2", body)
        # The client stored the new accessToken in its context; the next call must not carry it.
        await fc.call("auth.preVerifyMFAEmailCode", {"mfaToken": "MT-2"})

    assert set(result) == {"user", "tenants", "activeTenant"}
    user = result["user"]
    for key, value in {**claims, **login_response}.items():
        assert user[key] == value, key
    assert result["tenants"] == []
    assert result["activeTenant"] == {}
    # skipUserLoading: no /users/v2/me nor /users/v3/me/tenants follow-up calls.
    assert [(r.method, r.path) for r in fake.requests] == [
        ("POST", IDENTITY + EMAIL_CODE_VERIFY),
        ("POST", IDENTITY + EMAIL_CODE),
    ]
    assert fake.requests[0].json() == body
    assert all("Authorization" not in r.headers for r in fake.requests)


async def test_v2_call_rejects_when_access_token_is_not_a_jwt(fake: FakeFrontegg) -> None:
    fake.answer("POST", IDENTITY + EMAIL_CODE_VERIFY, 200, {"accessToken": "not-a-jwt"})
    async with FronteggClient(fake.base_url) as fc:
        with pytest.raises(FronteggApiError) as info:
            await fc.call("auth.verifyMFAEmailCodeV2", {"mfaToken": "MT"})

    assert info.value.name == "InvalidTokenError"
    assert info.value.status_code is None


@pytest.mark.parametrize(
    ("suffix", "url_prefix", "expected_prefix"),
    [
        ("/base", "mfa", "/base/mfa/identity"),
        ("", "custom", "/custom/identity"),
        ("", "", "/frontegg/identity"),
    ],
)
async def test_url_prefix_replaces_frontegg(
    fake: FakeFrontegg, suffix: str, url_prefix: str, expected_prefix: str
) -> None:
    async with FronteggClient(fake.base_url + suffix, url_prefix=url_prefix) as fc:
        await fc.call("auth.preVerifyMFAEmailCode", {"mfaToken": "MT"})

    assert fake.only_request().path == expected_prefix + EMAIL_CODE


async def test_query_string_is_url_search_params_encoded(fake: FakeFrontegg) -> None:
    answer = {"isAllowedToRemember": True, "mfaDeviceExpiration": 2592000}
    fake.answer("GET", IDENTITY + ALLOW_REMEMBER, 200, answer)
    async with FronteggClient(fake.base_url) as fc:
        result = await fc.call("auth.checkIfAllowToRememberMfaDevice", "MFA TOKEN/+=")

    assert result == answer
    req = fake.only_request()
    assert req.method == "GET"
    assert req.raw_query == "mfaToken=MFA+TOKEN%2F%2B%3D"
    assert req.body == b""
    assert req.headers["Content-Type"] == "application/json"


async def test_extra_headers_default_and_per_call_do_not_stick(fake: FakeFrontegg) -> None:
    async with FronteggClient(fake.base_url, headers={"frontegg-vendor-host": "v.test"}) as fc:
        await fc.call(
            "auth.preVerifyMFAEmailCode",
            {"mfaToken": "MT"},
            headers={"frontegg-tenant-id": "tenant-9", "cookie": "fe_device=abc"},
        )
        await fc.call("auth.preVerifyMFAEmailCode", {"mfaToken": "MT"})

    first, second = fake.requests
    assert first.headers["frontegg-vendor-host"] == "v.test"
    assert first.headers["frontegg-tenant-id"] == "tenant-9"
    assert first.headers["cookie"] == "fe_device=abc"
    assert second.headers["frontegg-vendor-host"] == "v.test"
    assert "frontegg-tenant-id" not in second.headers
    assert "cookie" not in second.headers


async def test_concurrent_calls_keep_their_own_access_token(fake: FakeFrontegg) -> None:
    async with FronteggClient(fake.base_url) as fc:
        results = await asyncio.gather(
            *(
                fc.call(
                    "auth.preEnrollMFASMS",
                    {"phoneNumber": f"+1555000000{i}"},
                    access_token=f"token-{i}" if i % 2 else None,
                )
                for i in range(6)
            )
        )

    assert results == [{}] * 6
    assert len(fake.requests) == 6
    for req in fake.requests:
        assert req.path == IDENTITY + USERS_SMS_ENROLL
        i = int(req.json()["phoneNumber"][-1])
        assert req.headers.get("Authorization") == (f"Bearer token-{i}" if i % 2 else None)


async def test_non_json_error_and_harness_errors(fake: FakeFrontegg) -> None:
    fake.answer("POST", IDENTITY + EMAIL_CODE, 500, b"<html>oops</html>")
    async with FronteggClient(fake.base_url) as fc:
        with pytest.raises(FronteggApiError) as info:
            await fc.call("auth.preVerifyMFAEmailCode", {"mfaToken": "MT"})
        assert info.value.status_code == 500
        assert info.value.error_code == "ER-ADMIN-PORTAL-GENERIC-ERROR"
        with pytest.raises(FronteggHarnessError, match="no function"):
            await fc.call("auth.noSuchFunction")
        with pytest.raises(FronteggHarnessError, match="unknown client group"):
            await fc.call("nope.preVerifyMFAEmailCode")
        # The driver is still usable after errors.
        fake.answer("POST", IDENTITY + EMAIL_CODE, 200, {"otcToken": "OK"})
        assert await fc.call("auth.preVerifyMFAEmailCode", {"mfaToken": "MT"}) == {"otcToken": "OK"}


async def test_missing_node_modules_gives_install_hint(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setattr(fc_module, "CLIENT_PACKAGE_JSON", tmp_path / "missing" / "package.json")
    with pytest.raises(FronteggHarnessError, match="npm ci --prefix tests/contract/js"):
        async with FronteggClient("http://127.0.0.1:9"):
            pass


async def test_call_that_never_settles_times_out(fake: FakeFrontegg) -> None:
    fake.answer("POST", IDENTITY + EMAIL_CODE, 302, b"http://elsewhere.test/login")
    async with FronteggClient(fake.base_url, timeout=1.0) as fc:
        with pytest.raises(FronteggHarnessError, match="did not settle"):
            await fc.call("auth.preVerifyMFAEmailCode", {"mfaToken": "MT"})
        # The queue moves on after the timeout.
        fake.answer("POST", IDENTITY + EMAIL_CODE, 200, {"otcToken": "OK"})
        assert await fc.call("auth.preVerifyMFAEmailCode", {"mfaToken": "MT"}) == {"otcToken": "OK"}
