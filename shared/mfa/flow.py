"""The factor-agnostic MFA core: the one attempt every proof goes through, completing a login,
and what follows an enrollment or a removal. No HTTP here.

Every proof (a TOTP code, an SMS or email code, a WebAuthn signature, a recovery code) runs
inside `attempt(...)`, in this order:

1. reserve: one atomic store step (one Redis round trip) loads the mfaToken's session and the
   factor's lockout state for (tenant, user, factor), and refuses (401 for an unknown, expired,
   burned or used token; 429 while delayed or locked) or counts the attempt on both;
2. prove: the factor compares the code or checks the signature (its own module);
3. succeed: one Postgres statement writes the success (its audit row, the TOTP step advance)
   and the mfaToken's use, which only the first request can record (the single use); the
   answer goes out, and the Redis session is deleted and the count reset after it, coalesced
   with other logins' (Ephemeral.settle_later); or fail: the attempt is already counted, only
   its audit row is written.

A factor never counts or resets anything itself, so a limit is a limit under any number of
parallel requests: an attempt is counted before its comparison, never after.

Every attempt is audited with who tried (shared.events.audit: address, User-Agent label,
request and trace ids) and the lock threshold that applied. A refused attempt (429 while
delayed or locked, a burned mfaToken, recovery throttling) is recorded without turning a flood
into a flood of writes: a Redis counter per user, factor, reason and minute counts them all,
and the group's one audit row is written by the 1st, 2nd, 4th, 8th, ... refusal of that minute
(at most about log2(n) writes for n refusals), its `attempts` the count at the last write, so
exact up to a factor of two, and the row's address and agent are the first refusal's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared.crypto import token_hash
from shared.events.audit import AuditEvent, TokenUse, TokenUsed
from shared.http.caller import device_label, network_of
from shared.http.client_ip import ip_bucket
from shared.http.errors import Forbidden, MfaError, TooManyRequests, Unauthorized
from shared.http.metrics import locked, refused, verified
from shared.mfa.challenges import InvalidChallenge
from shared.mfa.devices import Device
from shared.mfa.lockout import Lockout
from shared.mfa.policies import Policy
from shared.mfa.registry import EMAIL, Kind, amr_of, kind
from shared.mfa.sessions import MfaSession, pending_aad, session_key, tag_of
from shared.mfa.tokens import Principal, fresh_mfa
from shared.stores.bundle import Stores
from shared.stores.ephemeral import Reservation


class InvalidMfaToken(Unauthorized):
    """The mfaToken is unknown, expired, burned or used."""

    code = "ER-MFA-INVALID-MFA-TOKEN"
    default_message = "Invalid or expired MFA token"


class ReplayedProof(InvalidChallenge):
    """A right proof already used (a TOTP step at or below the device's last): answered like a
    wrong code, audited as a replay."""

    reason = "replay"


class AlreadyEnrolled(Forbidden):
    """Mid-login enrollment is forced enrollment: only for users with no factor yet."""

    code = "ER-MFA-ALREADY-ENROLLED"
    default_message = "MFA is already enrolled; verify with an enrolled factor"


@dataclass(frozen=True)
class Enrolled:
    """A logged-in enrollment's answer: the recovery code on the user's first factor."""

    recoveryCode: str | None = None  # noqa: N815 - the wire's name


@dataclass(frozen=True)
class LoginResult:
    """Frontegg's login response body, plus a remember-device token for the cookie."""

    body: dict[str, Any]
    remember_token: str | None = None
    remember_max_age: int = 0


def _refusal(r: Reservation, factor: str) -> MfaError:
    """The error a refused reservation answers (and its metrics)."""
    if r.status == "gone":
        verified("session", "burned" if r.burned else "expired")
        refused(factor, "burned" if r.burned else "expired")
        return InvalidMfaToken()
    verified(factor, "locked")
    refused(factor, "locked" if r.status == "locked" else "delayed")
    if r.status == "locked":
        return TooManyRequests("This factor is locked after too many failed attempts",
                               code="ER-MFA-LOCKED")
    return TooManyRequests("Too many failed attempts, try again later",
                           retry_after=int(r.retry_after) + 1, code="ER-MFA-DELAY")


def _reason(r: Reservation) -> str:
    if r.status == "gone":
        return "burned" if r.burned else "expired"
    return r.status  # delayed | locked


async def _count_refusal(stores: Stores, group: str, reason: str) -> tuple[str, int]:
    """Count a refusal in its group's counter for this minute: (the counter's key, the count);
    `group` names the user and factor, hashed like the lockout's key."""
    key = f"refused:{group}:{reason}:{int(stores.clock.time() // 60)}"
    return key, await stores.eph.incr(key, 120)


async def _write_refusal(stores: Stores, key: str, count: int, *, tenant_id: str,
                         user_id: str, factor: str, reason: str, error: str,
                         lock_at: int = 0) -> None:
    """Write (or raise the count of) a refusal group's audit row."""
    if not lock_at and factor != "recovery":
        lock_at = await stores.lockout.tenant_lock_at(tenant_id, now=stores.clock.time())
    await stores.audit.grouped(
        AuditEvent(tenant_id, user_id, factor, "refused", "refused",
                   detail={"reason": reason, "error": error}, lock_threshold=lock_at or None),
        f"{key}:{tenant_id}:{user_id}", count)


async def _refused(stores: Stores, r: Reservation, factor: str, lock_key: str,
                   principal: Principal | None) -> MfaError:
    """The refusal's error, after recording the refused attempt when it is known whose it
    was (a bearer's, or a session's that is burned, delayed or locked)."""
    error = _refusal(r, factor)
    record = r.session or {}
    tenant_id = principal.tenant_id if principal else record.get("tenant_id")
    user_id = principal.user_id if principal else record.get("user_id")
    if tenant_id and user_id:
        key, n = await _count_refusal(stores, lock_key, _reason(r))
        if not n & (n - 1):  # a power of two: write the group's row
            await _write_refusal(stores, key, n, tenant_id=tenant_id, user_id=user_id,
                                 factor=factor, reason=_reason(r), error=error.code,
                                 lock_at=int(record.get("lock_at") or 0))
    return error


@dataclass
class Attempt:
    """One reserved proof attempt: who, which factor, the mfaToken's session (None on bearer
    routes) and the consecutive count including this attempt."""

    stores: Stores
    factor: str
    tenant_id: str
    user_id: str
    lock_key: str
    session: MfaSession | None
    failures: int
    session_failures: int = 0
    device_id: str | None = None
    lock_at: int = 0  # the tenant's lock threshold (0: the deployment's)
    settled: bool = field(default=False, init=False)
    _use_handed: bool = field(default=False, init=False)
    # The browser's User-Agent and address, for a remembered device's label and network:
    # asked for only when a device is remembered (the address parse is not worth doing on
    # every attempt).
    client: Callable[[], tuple[str, str]] = field(default=lambda: ("", ""), init=False)

    def event(self, *, action: str = "verify", device_id: str | None = None,
              detail: dict[str, Any] | None = None) -> AuditEvent:
        """The success's audit row, for a factor that writes it with its own change."""
        return AuditEvent(self.tenant_id, self.user_id, self.factor, action, "success",
                          device_id or self.device_id, detail or {}, self.threshold())

    def threshold(self) -> int:
        """The consecutive failures that lock this factor for this user."""
        return self.lock_at or self.stores.lockout.limits.lock_at

    def use(self) -> TokenUse:
        """The mfaToken's single use, for the statement that writes the login's success: a
        factor that writes its success with its own change (a TOTP step advance) passes it to
        that statement, then calls login(audited=True)."""
        assert self.session is not None, "only an mfaToken attempt has a use"
        self._use_handed = True
        return TokenUse(self.session.key.rsplit(":", 1)[1], self.session.expires_at)

    async def succeed(self, audit: AuditEvent | None = None) -> None:
        """A bearer route's proof held: write `audit` (if any), reset the factor's count."""
        if audit is not None:
            await self.stores.audit.write(audit)  # durable first: no success without its row
        self.settled = True
        await self.stores.eph.settle(self.lock_key, None)
        verified(self.factor, "success")

    async def login(self, *, device_id: str | None, remember_device: bool = False,
                    recovery_code: str | None = None, audited: bool = False) -> LoginResult:
        """The proof held mid-login: one statement writes the success's audit row and the
        mfaToken's use, and only the first use writes (unless the factor wrote both with its
        change: `audited`); then the access token is signed and the device remembered when
        asked and allowed. Deleting the Redis session and resetting the count wait for nothing
        of this (Ephemeral.settle_later): the answer does not wait for that round trip."""
        s = self.session
        assert s is not None, "login() needs an mfaToken attempt"
        if not audited:
            try:
                await self.stores.audit.with_change(None, (), self.event(device_id=device_id),
                                                    use=self.use())
            except TokenUsed:
                self.settled = True
                raise InvalidMfaToken() from None  # a parallel request logged in first
        if not self._use_handed:
            raise RuntimeError("login(audited=True) by a factor that did not record the use")
        self.settled = True
        self.stores.eph.settle_later(self.lock_key, s.key)
        verified(self.factor, "success")
        body = login_body(self.stores, tenant_id=s.tenant_id, user_id=s.user_id, email=s.email,
                          amr=amr_of(self.factor))
        if recovery_code:
            body["recoveryCode"] = recovery_code
        remember, max_age = None, 0
        if remember_device:
            policy = await self.stores.policies.get(s.tenant_id)
            if policy.allowRememberMyDevice and policy.mfaDeviceExpiration > 0:
                max_age = policy.mfaDeviceExpiration
                # Only in the HttpOnly cookie (shared.http.web.login_response), never in the body,
                # where page scripts could read it; the host passes the cookie at session start.
                user_agent, ip = self.client()
                remember = await self.stores.remembered.issue(
                    s.tenant_id, s.user_id, max_age, label=device_label(user_agent),
                    network=network_of(ip))
        return LoginResult(body=body, remember_token=remember, remember_max_age=max_age)

    async def failed(self, error: MfaError) -> None:
        """The proof did not hold: already counted; audit it."""
        limits = self.stores.lockout.limits
        threshold = self.threshold()
        is_locked = self.failures >= threshold
        verified(self.factor, "locked" if is_locked else "wrong_code")
        if self.failures == threshold:
            locked(self.factor, self.tenant_id)
        detail: dict[str, Any] = {"consecutive": self.failures, "error": error.code,
                                  "tokenBurned": self.session is not None
                                  and self.session_failures >= limits.session_max}
        if getattr(error, "reason", None):
            detail["reason"] = error.reason  # type: ignore[attr-defined]
        detail.update(getattr(error, "audit_detail", {}))  # e.g. a TOTP clock offset
        await self.stores.audit.write(AuditEvent(
            self.tenant_id, self.user_id, self.factor, "lockout" if is_locked else "failure",
            "refused", self.device_id, detail, threshold))


async def _reserve(stores: Stores, factor: str, mfa_token: str | None,
                   principal: Principal | None, *, count: bool) -> Attempt:
    if principal is not None:
        skey, lock_key = None, stores.lockout.key(principal.tenant_id, principal.user_id, factor)
    else:
        skey = session_key(mfa_token or "")
        if skey is None:
            raise _refusal(Reservation("gone"), factor)
        lock_key = Lockout.key_for_tag(tag_of(skey), factor)
    r = await stores.eph.reserve(lock_key, skey, stores.lockout.limits,
                                 now=stores.clock.time(), count=count)
    if r.status != "ok":
        raise await _refused(stores, r, factor, lock_key, principal)
    session = stores.sessions.from_record(skey, r.session or {}) if skey else None
    who = principal or session
    assert who is not None
    lock_at = await _tenant_lock(stores, who.tenant_id, session, lock_key, r, factor,
                                 principal) if count else 0
    return Attempt(stores, factor, who.tenant_id, who.user_id, lock_key, session, r.failures,
                   r.session_failures, lock_at=lock_at)


async def _tenant_lock(stores: Stores, tenant_id: str, session: MfaSession | None,
                       lock_key: str, r: Reservation, factor: str,
                       principal: Principal | None) -> int:
    """A tenant's lockout policy stricter than the deployment's: the attempt that reaches
    its threshold locks the factor (and is still compared, like the deployment's), later
    ones are refused; the count was taken atomically, so parallel attempts cannot pass it.
    Mid-login the threshold comes with the session (no read); logged in, from the policy."""
    lock_at = (session.lock_at if session is not None else
               await stores.lockout.tenant_lock_at(tenant_id, now=stores.clock.time()))
    if 0 < lock_at < stores.lockout.limits.lock_at and r.failures >= lock_at:
        await stores.eph.lock(lock_key, stores.lockout.limits.ttl)
        if r.failures > lock_at:
            locked = Reservation("locked", r.session, failures=r.failures)
            raise await _refused(stores, locked, factor, lock_key, principal)
    return lock_at


@asynccontextmanager
async def attempt(stores: Stores, factor: str, *, mfa_token: str | None = None,
                  principal: Principal | None = None) -> AsyncIterator[Attempt]:
    """Reserve one proof attempt (mid-login by mfaToken, or logged-in by principal); inside,
    the factor proves and calls `login`/`succeed`; a refusal raised inside is audited."""
    a = await _reserve(stores, factor, mfa_token, principal, count=True)
    try:
        yield a
    except TokenUsed:
        a.settled = True  # a parallel request logged in with this mfaToken first
        raise InvalidMfaToken() from None
    except MfaError as e:
        if not a.settled and e.status < 500:
            await a.failed(e)
        raise


async def open_session(stores: Stores, mfa_token: str | None, *,
                       factor: str | None = None) -> MfaSession:
    """The live session of an mfaToken for a route that proves nothing (401 otherwise); with
    `factor`, also refused with 429 while that factor is delayed or locked (one round trip)."""
    if factor is None:
        s = await stores.sessions.load(mfa_token or "")
        if s is None:
            raise _refusal(Reservation("gone"), "session")
        return s
    a = await _reserve(stores, factor, mfa_token, None, count=False)
    assert a.session is not None
    return a.session


async def check_unlocked(stores: Stores, p: Principal, factor: str) -> None:
    """429 while the logged-in user's factor is delayed or locked (counts nothing)."""
    await _reserve(stores, factor, None, p, count=False)


@asynccontextmanager
async def recovery_attempt(stores: Stores, *, email: str, ip: str) -> AsyncIterator[None]:
    """A recovery code attempt, counted before it is compared: per (email, client address),
    so a stranger elsewhere cannot block the owner's recovery; per address across emails; and
    per email across addresses, so spreading guesses over addresses does not multiply them.
    Addresses count per /64 for IPv6 (ip_bucket): one subscriber holds a whole /64. A success
    clears the (email, address) count; a refusal inside stays counted."""
    settings = stores.settings
    bucket, mail = ip_bucket(ip), email.lower()
    pair = f"recover:{token_hash(mail + chr(0) + bucket)}"
    for key, cap in ((f"recover-ip:{bucket}", settings.recovery_ip_limit),
                     (f"recover-email:{token_hash(mail)}", settings.recovery_email_limit),
                     (pair, settings.recovery_attempts)):
        if await stores.eph.incr(key, settings.recovery_window) > cap:
            verified("recovery", "locked")
            refused("recovery", "recovery_limit")
            error = TooManyRequests("Too many recovery attempts, try again later",
                                    retry_after=int(await stores.eph.ttl(key)) + 1,
                                    code="ER-MFA-RECOVERY-LIMIT")
            await _recovery_refused(stores, mail, error.code)
            raise error
    yield
    await stores.eph.delete(pair)


async def _recovery_refused(stores: Stores, email: str, error: str) -> None:
    """Record a throttled recovery for every user known by that email (grouped per email and
    minute; the users are looked up only when the group's row is written)."""
    key, n = await _count_refusal(stores, f"recover-email:{token_hash(email)}",
                                  "recovery_limit")
    if n & (n - 1):
        return
    for tenant_id, user_id in await stores.users.with_email(email):
        await _write_refusal(stores, key, n, tenant_id=tenant_id, user_id=user_id,
                             factor="recovery", reason="recovery_limit", error=error)


def pending_secret(stores: Stores, session: MfaSession, sealed: str | None) -> str | None:
    """Open a secret the session start sealed for this user (PendingEnrollment)."""
    if not sealed:
        return None
    return stores.cipher.decrypt(sealed, pending_aad(session.tenant_id, session.user_id)).decode()


class KindNotAllowed(Forbidden):
    """The tenant's policy has none of the strategies that govern this kind on: its
    credentials neither enroll, nor receive codes, nor log in (each kind's own code)."""

    def __init__(self, kind: Kind) -> None:
        super().__init__(f"{kind.label} is not allowed for this account", code=kind.off_code)


async def ensure_allowed(stores: Stores, kind: Kind, tenant_id: str,
                         session: MfaSession | None = None) -> None:
    """403 (the kind's code) unless a strategy that governs `kind` is on: with `session`, by
    the strategies its start read (the TOTP and WebAuthn verifies: no policy read on the
    hottest path, so a switch applies to logins started after it), else by the tenant's
    policy now (enrollments, sends, the SMS and email verifies)."""
    if session is not None and session.strategies is not None:
        strategies = session.strategies
    else:
        strategies = (await stores.policies.get(tenant_id)).strategies
    _check_allowed(kind, strategies)


def _check_allowed(kind: Kind, strategies: tuple[str, ...]) -> None:
    if kind.strategies and not any(s in strategies for s in kind.strategies):
        raise KindNotAllowed(kind)


class RecentMfaRequired(Forbidden):
    """Creating this credential needs a recent MFA (step up first)."""

    code = "ER-MFA-RECENT-MFA-REQUIRED"
    default_message = "Adding a factor needs a recent MFA: step up first"


def require_recent_mfa(policy: Policy, principal: Principal, kind: Kind, now: float) -> None:
    """403 unless the token proves an MFA (shared.mfa.tokens.fresh_mfa) within the window the
    registry names for that kind of credential (a tenant policy field). Of ordinary factors
    the tenant's `enrollRequiresMfaWithin` (0: no requirement, as on Frontegg); a kind that
    logs in by itself or stands in for MFA (registry `fresh`: passkeys, recovery-code sets)
    always needs one, its field's default when the tenant set 0, so a stolen password-only,
    remembered-browser or recovery-code token cannot make itself permanent."""
    within = int(getattr(policy, kind.created_within))
    if within <= 0 and kind.fresh:
        within = int(getattr(Policy, kind.created_within))  # the field's default
    if within > 0 and not fresh_mfa(principal.claims, within, now):
        raise RecentMfaRequired()


async def may_create(stores: Stores, principal: Principal, kind: Kind) -> None:
    """Who may create a credential of `kind`, as the registry declares it, asked before a
    ceremony starts: a strategy that governs it on (403, its code), an MFA fresh enough for it
    (403 ER-MFA-RECENT-MFA-REQUIRED), room under its per-user cap (409
    ER-MFA-TOO-MANY-DEVICES; the insert checks the cap again, atomically). One policy read
    answers the first two."""
    policy = await stores.policies.get(principal.tenant_id)
    _check_allowed(kind, policy.strategies)
    require_recent_mfa(policy, principal, kind, stores.clock.time())
    if kind.stored:
        await stores.devices.ensure_room(principal.tenant_id, principal.user_id, kind.name)


async def require_unenrolled(stores: Stores, session: MfaSession,
                             devices: list[Device] | None = None) -> None:
    """Refuse enrolling with only an mfaToken (the password) for a user who has any factor:
    else a stolen password alone would be enough to add the attacker's device. `devices`: the
    user's devices when the caller has already read them."""
    policy = await stores.policies.get(session.tenant_id)
    has_email = bool(session.email) and policy.allows_kind(EMAIL)
    if devices is None:
        devices = await stores.devices.list_for_user(session.tenant_id, session.user_id)
    # A device of a kind the policy switched off cannot log in: it does not count.
    usable = [d for d in devices if policy.allows_kind(kind(d.kind))]
    if session.purpose != "login" or has_email or usable:
        raise AlreadyEnrolled()


def login_body(stores: Stores, *, tenant_id: str, user_id: str, email: str,
               amr: list[str], mfa: bool = True, auth_time: int | None = None,
               not_after: int | None = None) -> dict[str, Any]:
    """Frontegg's ILoginResponse with a real, signed accessToken (authenticated at
    `auth_time`, now by default; expiring no later than `not_after`)."""
    token, exp = stores.tokens.issue(user_id=user_id, tenant_id=tenant_id, email=email, amr=amr,
                                     mfa=mfa, auth_time=auth_time, not_after=not_after)
    now = int(stores.clock.time())
    body: dict[str, Any] = {
        "mfaRequired": False, "accessToken": token, "refreshToken": "", "exp": exp,
        "expiresIn": exp - now, "expires": datetime.fromtimestamp(exp, UTC).isoformat(),
        "userId": user_id, "userEmail": email, "tenantId": tenant_id, "amr": amr,
        "auth_time": auth_time or now,
    }
    if mfa:
        body["acr"] = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"
    return body


async def after_enrollment(stores: Stores, *, tenant_id: str, user_id: str, email: str,
                           factor: str, device_id: str,
                           pending_recovery: str | None = None) -> str | None:
    """A new factor: audit it, revoke remembered devices, and hand out the recovery code.
    A forced enrollment (mid-login, `pending_recovery` from the session start) always makes
    its code the user's one code, replacing an unused old one: the login box shows the code
    after every forced enrollment. Otherwise only a user without a code gets one. Returns the
    recovery code to show once, or None."""
    await stores.audit.record(tenant_id=tenant_id, user_id=user_id, factor=factor,
                              action="enroll", outcome="success", device_id=device_id)
    await stores.remembered.revoke_all(tenant_id, user_id)
    if pending_recovery:
        await stores.recovery.replace(tenant_id, user_id, email, pending_recovery)
        return pending_recovery
    return await stores.recovery.issue_if_missing(tenant_id, user_id, email)


async def after_removal(stores: Stores, *, tenant_id: str, user_id: str, factor: str,
                        device_id: str) -> None:
    """A factor was disabled: audit it and revoke remembered devices."""
    await stores.audit.record(tenant_id=tenant_id, user_id=user_id, factor=factor,
                              action="disable", outcome="success", device_id=device_id)
    await stores.remembered.revoke_all(tenant_id, user_id)
