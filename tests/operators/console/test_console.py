"""The support console over HTTP, both modes (embedded: through the gateway; split: the
operators service itself, as a port-forward reaches it): OIDC sign-in with PKCE and roles,
the session cookie and headers, CSRF, the read-only role, escaping, what is never shown, and
every action through the shared cores, audited with the operator and the reason."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode, urlsplit

from shared.mfa.devices import Device, device_aad, new_device_id
from tests.conftest import Ids, Stack
from tests.operators.console.conftest import Page, Visitor
from tests.support.oidc_provider import Provider
from tests.support.records import audit_rows, events
from tests.support.totp_flows import AUTH, code, enrolled_user, lock_totp, login

CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")


def user_path(ids: Ids) -> str:
    return f"/user?tenant={ids.tenant}&user={ids.user}"


async def act(v: Visitor, ids: Ids, action: str, target: str = "", reason: str = "ticket 7",
              **extra: str) -> Page:
    """Open the confirmation, then post it (with its CSRF token)."""
    page = await v.get(f"/confirm?tenant={ids.tenant}&user={ids.user}&action={action}"
                       f"&target={target}")
    assert page.status == 200, page.text
    return await v.post("/act", {"csrf": page.csrf(), "tenant": ids.tenant, "user": ids.user,
                                 "action": action, "target": target, "reason": reason,
                                 "confirm": "yes", **extra})


async def test_oidc_sign_in_with_pkce_grants_the_role_its_token_carries(
        stack: Stack, idp: Provider, visitor: Callable[[], Visitor]) -> None:
    bob = visitor()
    first = await bob.get("/")
    assert first.status == 303 and first.location.endswith("/internal/console/signin")
    done = await bob.sign_in("bob")
    assert done.status == 200 and 'http-equiv="refresh"' in done.text  # a same-site hop
    [exchange] = idp.exchanges
    assert exchange["code_verifier"] and exchange["grant_type"] == "authorization_code"
    home = await bob.get("/")
    assert home.status == 200 and "Bob Admin" not in home.text and "bob" in home.text
    assert "admin" in home.text
    ann = visitor()
    await ann.sign_in("ann")
    assert "support, read only" in (await ann.get("/")).text
    eve = visitor()
    refused = await eve.sign_in("eve")
    assert refused.status == 403 and "no console role" in refused.text
    assert (await eve.get("/")).status == 303


async def test_a_callback_is_bound_to_its_browser_and_used_once(
        stack: Stack, idp: Provider, visitor: Callable[[], Visitor]) -> None:
    v = visitor()
    start = await v.get("/oidc/start")
    query = dict(parse_qsl(urlsplit(start.location).query))
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    back = await v.go("POST", f"{idp.issuer}/authorize", data={**query, "person": "bob"})
    callback = back.location.split("/internal/console", 1)[1]
    other = visitor()  # another browser, without the state's cookie
    assert (await other.get(callback)).status == 400
    assert (await v.get(callback)).status == 200
    [exchange] = idp.exchanges  # PKCE: the verifier sent is the challenge's
    digest = hashlib.sha256(exchange["code_verifier"].encode()).digest()
    assert base64.urlsafe_b64encode(digest).decode().rstrip("=") == query["code_challenge"]
    v.cookies["mfa_console_signin"] = query["state"]  # replayed, cookie and all
    replay = await v.get(callback)
    assert replay.status == 400 and "used already" in replay.text


async def test_an_id_token_that_does_not_hold_signs_no_one_in(
        stack: Stack, idp: Provider, visitor: Callable[[], Visitor]) -> None:
    for claims in ({"aud": "another-client"}, {"nonce": "another-sign-in"},
                   {"iss": "https://impostor.example"}, {"exp": 1000}):
        idp.overrides = claims
        v = visitor()
        refused = await v.sign_in("bob")
        assert refused.status == 403 and "does not" in refused.text, claims
        assert (await v.get("/")).status == 303, claims


async def test_the_session_slides_while_used_and_ends_at_sign_out(
        stack: Stack, visitor: Callable[[], Visitor]) -> None:
    v = visitor()
    await v.sign_in("ann")
    for _ in range(3):  # 1800 s in all, never 900 s idle
        stack.clock.advance(600)
        assert (await v.get("/")).status == 200
    token = v.cookies["mfa_console"]
    home = await v.get("/")
    assert (await v.post("/signout", {})).status == 403  # sign-out is a change: CSRF too
    out = await v.post("/signout", {"csrf": home.csrf()})
    assert out.status == 303 and out.location.endswith("/signin?notice=signed-out")
    assert "mfa_console" not in v.cookies
    v.cookies["mfa_console"] = token  # the old cookie, kept by someone
    assert (await v.get("/")).status == 303


async def test_cookie_flags_headers_idle_timeout_and_no_script(
        stack: Stack, visitor: Callable[[], Visitor]) -> None:
    v = visitor()
    await v.sign_in("bob")
    [session] = [c for c in v.set_cookies if c.startswith("mfa_console=")]
    flags = {f.strip().lower() for f in session.split(";")[1:]}
    assert {"httponly", "secure", "samesite=strict", "path=/"} <= flags
    for path in ("/", "/signin", "/policy?tenant=t-1", "/user?tenant=t-1&user=u-1"):
        page = await v.get(path)
        assert page.status == 200, path
        assert page.headers["Content-Security-Policy"] == CSP
        assert page.headers["Cache-Control"] == "no-store"
        assert page.headers["X-Frame-Options"] == "DENY"
        assert "<script" not in page.text and " on" not in re.sub(r">[^<]*<", "><", page.text)
    stack.clock.advance(901)  # MFA_CONSOLE_IDLE_TIMEOUT's default, 900 s
    gone = await v.get("/")
    assert gone.status == 303 and gone.location.endswith("/signin?notice=expired")


async def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(
        stack: Stack, ids: Ids, visitor: Callable[[], Visitor]) -> None:
    seed = await enrolled_user(stack, ids)
    await lock_totp(stack, ids, seed)
    v = visitor()
    await v.sign_in("bob")
    form = {"tenant": ids.tenant, "user": ids.user, "action": "unlock", "target": "",
            "reason": "ticket", "confirm": "yes"}
    for csrf in ({}, {"csrf": ""}, {"csrf": "forged"}):
        page = await v.post("/act", {**form, **csrf})
        assert page.status == 403 and "CSRF" in page.text
    assert await audit_rows(stack, ids, "unlock") == []
    assert (await stack.stores.lockout.state(ids.tenant, ids.user, "totp",
                                             now=stack.clock.time())).locked


async def test_the_read_only_role_sees_no_action_and_is_refused_one(
        stack: Stack, ids: Ids, visitor: Callable[[], Visitor]) -> None:
    seed = await enrolled_user(stack, ids, remembered=True)
    await lock_totp(stack, ids, seed)
    ann = visitor()
    await ann.sign_in("ann")
    page = await ann.get(user_path(ids))
    assert page.status == 200
    assert "Locked out: Authenticator app / Hardware token (3 wrong tries" in page.text
    lifts = datetime.fromtimestamp(stack.clock.time() + stack.settings.lockout_ttl, UTC)
    # The lock's record expires MFA_LOCKOUT_TTL after the last try (Redis: in real time).
    assert f"{lifts:%Y-%m-%d}" in page.text and "when the lock expires" in page.text
    assert "/confirm" not in page.text and page.text.count("<form") == 1  # sign-out only
    assert (await ann.get(f"/confirm?tenant={ids.tenant}&user={ids.user}&action=reset")
            ).status == 403
    refused = await ann.post("/act", {"csrf": page.csrf(), "tenant": ids.tenant,
                                      "user": ids.user, "action": "reset", "reason": "x",
                                      "confirm": "yes"})
    assert refused.status == 403 and "admin role" in refused.text
    policy = await ann.get(f"/policy?tenant={ids.tenant}")
    assert policy.status == 200 and policy.text.count("<form") == 1
    assert (await ann.post("/policy", {"csrf": page.csrf(), "tenant": ids.tenant,
                                       "section": "lockout", "maxAttempts": "2"})).status == 403
    assert len(await stack.stores.devices.list_for_user(ids.tenant, ids.user)) == 1


async def test_each_action_runs_the_shared_core_audited_with_operator_and_reason(
        stack: Stack, ids: Ids, visitor: Callable[[], Visitor]) -> None:
    seed = await enrolled_user(stack, ids, remembered=True)
    await lock_totp(stack, ids, seed)
    bob = visitor()
    await bob.sign_in("bob")
    no_reason = await act(bob, ids, "unlock", reason="")
    assert no_reason.status == 400
    unconfirmed = await act(bob, ids, "unlock", confirm="no")
    assert unconfirmed.status == 400
    done = await act(bob, ids, "unlock", "totp", reason="ticket <b>7</b>")
    assert done.status == 303
    shown = await bob.get(done.location.split("/internal/console", 1)[1])
    assert "Unlocked." in shown.text and "ticket &lt;b&gt;7&lt;/b&gt;" in shown.text
    await stack.post(f"{AUTH}/verify", {"mfaToken": await login(stack, ids),
                                        "value": code(stack, seed)})
    [row] = await audit_rows(stack, ids, "unlock")
    assert json.loads(row["detail"]) == {"actor": "console:sub-bob", "reason": "ticket <b>7</b>",
                                         "wasLocked": ["totp"]}
    assert "mfa.factor.unlocked" in await events(stack, ids)
    assert (await act(bob, ids, "revoke-trusted")).status == 303
    assert await stack.stores.remembered.list_for_user(ids.tenant, ids.user) == []
    [device] = await stack.stores.devices.list_for_user(ids.tenant, ids.user)
    assert (await act(bob, ids, "remove", device.id, reason="lost phone")).status == 303
    assert await stack.stores.devices.list_for_user(ids.tenant, ids.user) == []
    await enrolled_user(stack, ids)
    assert (await act(bob, ids, "reset", reason="new phone")).status == 303
    kinds = await events(stack, ids)
    assert kinds.count("mfa.remembered_devices.revoked") == 1  # the reset found none left
    assert kinds[-3:] == ["mfa.factor.removed", "mfa.factor.enrolled", "mfa.reset"]
    for action in ("disable", "reset"):
        for r in await audit_rows(stack, ids, action):
            assert json.loads(r["detail"])["actor"] == "console:sub-bob"
    assert (await act(bob, ids, "reset")).status == 400  # nothing left: ER-01097's page


async def test_what_a_page_shows_is_escaped_and_never_a_secret(
        stack: Stack, visitor: Callable[[], Visitor]) -> None:
    ids = Ids(tenant='t-<i>x</i>', user='<img src=x onerror="alert(1)">')
    await stack.start_session(ids, email="markup@example.test")
    seed = await enrolled_user(stack, ids)
    phone = "+12015550123"
    device_id = new_device_id()
    await stack.stores.devices.add(Device(
        id=device_id, tenant_id=ids.tenant, user_id=ids.user, kind="sms",
        created_at=stack.clock.time(), data={"phoneMasked": "+1*******123"},
        secret=stack.stores.cipher.encrypt(phone.encode(), device_aad(
            ids.tenant, ids.user, device_id))))
    await stack.stores.devices.add(Device(  # a passkey: every stored kind is listed
        id=new_device_id(), tenant_id=ids.tenant, user_id=ids.user, kind="passkey",
        created_at=stack.clock.time(), name="<b>laptop</b>", lookup="cred-1"))
    codes = await stack.stores.recovery_sets.regenerate(ids.tenant, ids.user, "m@example.test")
    v = visitor()
    await v.sign_in("bob")
    page = await v.get("/users?" + urlencode({"tenant": ids.tenant, "by": "user",
                                              "q": ids.user}))
    assert page.status == 303
    page = await v.get(page.location.split("/internal/console", 1)[1])
    assert page.status == 200
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in page.text
    assert "<img" not in page.text and "<i>" not in page.text
    assert "Phone" in page.text and "10 of 10 left" in page.text
    assert "&lt;b&gt;laptop&lt;/b&gt;" in page.text and "<b>" not in page.text
    for secret in (seed, phone, phone[1:], "2015550123", *codes):
        assert secret not in page.text


async def test_find_a_user_by_email(stack: Stack, ids: Ids,
                                    visitor: Callable[[], Visitor]) -> None:
    await stack.start_session(ids)
    v = visitor()
    await v.sign_in("ann")
    found = await v.get(f"/users?tenant={ids.tenant}&by=email&q={ids.email.upper()}")
    assert found.status == 303 and found.location.endswith(user_path(ids))
    none = await v.get(f"/users?tenant={ids.tenant}&by=email&q=nobody@example.test")
    assert none.status == 200 and "No user of this tenant" in none.text


async def test_tenant_policies_are_read_by_both_roles_and_edited_by_admins(
        stack: Stack, ids: Ids, visitor: Callable[[], Visitor]) -> None:
    bob = visitor()
    await bob.sign_in("bob")
    page = await bob.get(f"/policy?tenant={ids.tenant}")
    assert page.status == 200 and "The deployment's threshold" in page.text
    saved = await bob.post("/policy", {"csrf": page.csrf(), "tenant": ids.tenant,
                                       "section": "lockout", "enabled": "yes",
                                       "maxAttempts": "2"})
    assert saved.status == 303
    assert (await bob.post("/policy", {"csrf": page.csrf(), "tenant": ids.tenant,
                                       "section": "strategies", "strategy": "SMS"})
            ).status == 303
    bad = await bob.post("/policy", {"csrf": page.csrf(), "tenant": ids.tenant,
                                     "section": "lockout", "maxAttempts": "0"})
    assert bad.status == 400
    assert (await stack.stores.policies.get(ids.tenant)).strategies == ("SMS",)
    rows = [r for r in await stack.stores.db.fetch(
        "SELECT action, detail FROM audit_events WHERE tenant_id = $1 AND factor = 'config' "
        "ORDER BY at, id", ids.tenant)]
    assert sorted(r["action"] for r in rows) == ["lockout-policy", "mfa-policy"]
    assert all(json.loads(r["detail"])["actor"] == "console:sub-bob" for r in rows)
    ann = visitor()
    await ann.sign_in("ann")
    shown = await ann.get(f"/policy?tenant={ids.tenant}")
    assert "locks after 2 wrong tries" in shown.text and "SMS: active" in shown.text


async def test_the_internal_key_signs_in_only_embedded(
        stack: Stack, visitor: Callable[[], Visitor]) -> None:
    v = visitor()
    form = await v.get("/signin")
    key = stack.settings.internal_api_key
    if stack.mode == "split":
        assert 'name="key"' not in form.text
        refused = await v.post("/signin", {"csrf": v.cookies["mfa_console_form"], "key": key})
        assert refused.status == 403 and "off here" in refused.text
        return
    assert (await v.post("/signin", {"key": key})).status == 403  # no CSRF token
    assert (await v.sign_in_with_key("wrong" * 8)).status == 403
    page = await v.sign_in_with_key(key)
    assert page.status == 303 and "internal API key" in (await v.get("/")).text
    for _ in range(8):  # ten sign-ins a quarter of an hour per address, counted first
        assert (await v.sign_in_with_key("wrong" * 8)).status == 403
    assert (await v.sign_in_with_key(key)).status == 429
