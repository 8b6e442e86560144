"""User notifications through the email service's SMTP sender, against a real SMTP server, in
both modes: a factor added or removed, an MFA reset, a used recovery code, a lock; in the
language of the request that caused it; off per tenant; every language renders every notice."""

from __future__ import annotations

import asyncio

import pytest

from services.email.message import Templates
from services.email.notices import NOTICES, NoticeTemplates
from tests.conftest import Ids, Stack
from tests.email.conftest import html_part, smtp_env, text_part
from tests.support.records import others_events_done
from tests.support.smtp_server import Delivered, SmtpServer
from tests.support.totp_flows import USERS, code, enrolled_user, lock_totp


@pytest.fixture
async def extra_env(smtp: SmtpServer, request: pytest.FixtureRequest) -> dict[str, str]:
    """Notifications on, through the test's SMTP server; in split mode the shared database's
    older events count as notified (they are other tests')."""
    await others_events_done(request, "notified_at = 0 WHERE notified_at IS NULL OR "
                             "notified_at < 0")
    return smtp_env(smtp, MFA_NOTIFICATIONS="true", MFA_LOCKOUT_MAX_FAILURES="3",
                    MFA_LOCKOUT_DELAY_AFTER="100")


async def mails_to(smtp: SmtpServer, ids: Ids, count: int) -> list[Delivered]:
    """Wait until `count` mails reached the user (the notifier runs in the background)."""
    def mine() -> list[Delivered]:
        return [m for m in smtp.messages if m.rcpt_tos == [ids.email]]

    for _ in range(600):
        if len(mine()) >= count:
            break
        await asyncio.sleep(0.05)
    assert len(mine()) == count, [m.message["Subject"] for m in mine()]
    return mine()


async def test_a_new_factor_is_mailed_in_the_requests_language(stack: Stack, ids: Ids,
                                                                smtp: SmtpServer) -> None:
    token = stack.user_token(ids)
    pre = await stack.post(f"{USERS}/authenticator/enroll", token=token)
    await stack.post(f"{USERS}/authenticator/enroll/verify",
                     {"token": code(stack, pre["secret"])}, token=token,
                     headers={"Accept-Language": "de-CH, de;q=0.9"})
    [mail] = await mails_to(smtp, ids, 1)
    msg = mail.message
    assert msg["Subject"] == "Neue Anmeldemethode für Ihr MFA-Konto"
    assert msg["Content-Language"] == "de"
    assert "Authenticator-App" in text_part(msg) and "Authenticator-App" in html_part(msg)
    assert pre["secret"] not in mail.raw.decode(errors="replace")


async def test_reset_lock_and_recovery_are_mailed(stack: Stack, ids: Ids,
                                                  smtp: SmtpServer) -> None:
    seed = await enrolled_user(stack, ids)
    await lock_totp(stack, ids, seed)
    await stack.post(f"{USERS}/disable", {}, headers={
        "Authorization": f"Bearer {stack.vendor_token(ids.tenant)}",
        "frontegg-user-id": ids.user, "frontegg-tenant-id": ids.tenant})
    mails = await mails_to(smtp, ids, 3)
    assert [m.message["Subject"] for m in mails] == [
        "A new sign-in method was added to your MFA account",
        "A sign-in method of your MFA account was locked",
        "Your MFA sign-in methods were reset"]
    recovery = await stack.stores.recovery.issue_if_missing(ids.tenant, ids.user, ids.email)
    assert recovery is not None
    await stack.post("/resources/auth/v1/user/mfa/recover",
                     {"email": ids.email, "recoveryCode": recovery})
    last = (await mails_to(smtp, ids, 4))[-1]
    assert last.message["Subject"] == "Your MFA recovery code was used"
    assert recovery not in last.raw.decode(errors="replace")


async def test_a_tenant_can_switch_notifications_off(stack: Stack, ids: Ids,
                                                     smtp: SmtpServer) -> None:
    await stack.set_policy(ids, notifyUsers=False)
    await enrolled_user(stack, ids)
    other = ids.other()
    await enrolled_user(stack, Ids(tenant=ids.tenant + "-on", user=other.user))
    await mails_to(smtp, Ids(tenant=ids.tenant + "-on", user=other.user), 1)
    assert [m for m in smtp.messages if m.rcpt_tos == [ids.email]] == []
    [event] = await stack.stores.outbox.for_user(ids.tenant, ids.user)
    row = await stack.stores.db.fetchrow("SELECT notified_at FROM outbox_events WHERE id = $1",
                                         event.id)
    assert row is not None and row["notified_at"] > 0, "handled: no mail needed"


@pytest.mark.parametrize("locale", NoticeTemplates().locales)
def test_every_language_has_every_notice(locale: str) -> None:
    templates = NoticeTemplates()
    assert set(templates.locales) == set(Templates().locales), "the code mail's languages"
    for kind in NOTICES:
        r = templates.render(locale, kind, factor="webauthn", at=0.0, issuer="<Acme & Co>")
        assert r.locale == locale and r.subject and "\n" not in r.subject
        assert "<Acme & Co>" in r.text and "&lt;Acme &amp; Co&gt;" in r.html
        assert "1970-01-01 00:00 UTC" in r.text
