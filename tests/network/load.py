"""A steady login load on the namespaced stack, every answer recorded: each login starts a
session on the session service (the host's internal API) and sends its TOTP code through the
gateway (every third sends it twice at once: a double submit, of which at most one may
succeed); every tenth is an attacker's mfaToken with eight wrong codes at once (at most five
may be evaluated)."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pyotp

from tests.network.cluster import Cluster

PREFIX = "/frontegg/identity"
AUTH = f"{PREFIX}/resources/auth/v1/user/mfa"
USERS = f"{PREFIX}/resources/users/v1/mfa"
STEP = 30
CLIENT_TIMEOUT_S = 30.0  # far past every documented bound: a slower answer is a finding


@dataclass
class User:
    """An enrolled user: ids, seed, and the last TOTP step a login of the load used."""

    tenant: str
    user: str
    seed: str
    last_step: int = 0

    @property
    def email(self) -> str:
        """The user's email."""
        return f"{self.user}@example.test"


@dataclass
class Answer:
    """One request: what, when (monotonic), how long, status (0: no answer), errorCode."""

    kind: str
    start: float
    seconds: float
    status: int
    code: str = ""
    body: Any = None


@dataclass
class Login:
    """One login of the load: the session start and the two verifies (or the attack's)."""

    kind: str  # login | attack
    user: User
    start: float
    end: float = 0.0
    token: str = ""
    step: int = 0
    answers: list[Answer] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """A login: one verify succeeded."""
        return any(a.kind == "verify" and a.status == 200 for a in self.answers)


async def call(http: aiohttp.ClientSession, kind: str, method: str, url: str,
               **kw: Any) -> Answer:
    """One request, timed; never raises for an HTTP or network outcome."""
    start = time.monotonic()
    try:
        async with http.request(method, url, timeout=aiohttp.ClientTimeout(
                total=CLIENT_TIMEOUT_S), **kw) as r:
            try:
                body = await r.json(content_type=None)
            except ValueError:
                body = None
            code = body.get("errorCode", "") if isinstance(body, dict) else ""
            return Answer(kind, start, time.monotonic() - start, r.status, code, body)
    except (aiohttp.ClientError, TimeoutError) as e:
        return Answer(kind, start, time.monotonic() - start, 0, e.__class__.__name__)


class Load:
    """Users, the requests that drive them, and every answer."""

    def __init__(self, cluster: Cluster, http: aiohttp.ClientSession, tokens: Any) -> None:
        self.c = cluster
        self.http = http
        self.tokens = tokens
        self.users: list[User] = []
        self.attackers: list[User] = []
        self.logins: list[Login] = []
        self.enrollments: list[Answer] = []
        self._internal = {"Authorization": f"Bearer {cluster.env['MFA_INTERNAL_API_KEY']}"}

    def _token(self, u: User) -> str:
        token, _ = self.tokens.issue(user_id=u.user, tenant_id=u.tenant, email=u.email,
                                     amr=["pwd"], mfa=False)
        return str(token)

    async def enroll(self, tenant: str) -> tuple[User | None, Answer]:
        """A new user with an authenticator, through the gateway's users routes."""
        u = User(tenant, f"u-{uuid.uuid4().hex[:10]}", "")
        h = {"Authorization": f"Bearer {self._token(u)}"}
        pre = await call(self.http, "enroll", "POST", self.c.url("gw") + f"{USERS}/authenticator"
                         "/enroll", headers=h, json={})
        if pre.status != 200:
            return None, pre
        u.seed = pre.body["secret"]
        now = time.time()
        done = await call(self.http, "enroll", "POST", self.c.url("gw") + f"{USERS}/authenticator"
                          "/enroll/verify", headers=h,
                          json={"token": pyotp.TOTP(u.seed).at(now)})
        u.last_step = int(now) // STEP
        return (u if done.status == 200 else None), done

    async def enroll_many(self, n: int, into: list[User], parallel: int = 8) -> None:
        """n users (each its own tenant), enrolled before the load starts: all must work."""
        gate = asyncio.Semaphore(parallel)

        async def one() -> None:
            async with gate:
                u, a = await self.enroll(f"t-{uuid.uuid4().hex[:10]}")
                assert u is not None, (a.status, a.body)
                into.append(u)

        await asyncio.gather(*(one() for _ in range(n)))

    async def _start(self, lg: Login) -> bool:
        a = await call(self.http, "start", "POST",
                       self.c.url("session") + "/internal/v1/mfa/sessions", headers=self._internal,
                       json={"userId": lg.user.user, "tenantId": lg.user.tenant,
                             "email": lg.user.email})
        lg.answers.append(a)
        if a.status == 200 and isinstance(a.body, dict) and a.body.get("mfaToken"):
            lg.token = a.body["mfaToken"]
            return True
        return False

    def _verify(self, lg: Login, value: str) -> Any:
        return call(self.http, "verify", "POST", self.c.url("gw") + f"{AUTH}/verify",
                    json={"mfaToken": lg.token, "value": value})

    async def login(self, u: User, submits: int) -> None:
        """Start, then the code (`submits` times at once)."""
        lg = Login("login", u, time.monotonic())
        self.logins.append(lg)
        now = time.time()
        lg.step = int(now) // STEP
        u.last_step = lg.step
        if await self._start(lg):
            value = pyotp.TOTP(u.seed).at(now)
            lg.answers += await asyncio.gather(*(self._verify(lg, value)
                                                 for _ in range(submits)))
        lg.end = time.monotonic()

    async def attack(self, u: User) -> None:
        """Eight wrong codes at once on one mfaToken."""
        lg = Login("attack", u, time.monotonic())
        self.logins.append(lg)
        if await self._start(lg):
            right = pyotp.TOTP(u.seed).now()
            wrong = [f"{(int(right) + 1 + i) % 1_000_000:06d}" for i in range(8)]
            lg.answers += await asyncio.gather(*(self._verify(lg, w) for w in wrong))
        lg.end = time.monotonic()

    def _free_user(self) -> User | None:
        step = int(time.time()) // STEP
        for u in self.users:
            if u.last_step < step:
                return u
        return None

    async def run(self, until: float, rate: float, stop: asyncio.Event) -> None:
        """Logins at `rate` per second (every tenth an attack) until `until` or `stop`."""
        tasks: set[asyncio.Task[None]] = set()
        n = 0
        next_at = time.monotonic()
        while time.monotonic() < until and not stop.is_set():
            n += 1
            if n % 10 == 0:
                job = self.attack(self.attackers[n // 10 % len(self.attackers)])
            else:
                u = self._free_user()
                job = self.login(u, 2 if n % 3 == 0 else 1) if u is not None else None
            if job is not None:
                t = asyncio.create_task(job)
                tasks.add(t)
                t.add_done_callback(tasks.discard)
            next_at += 1 / rate
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        if tasks:
            await asyncio.gather(*tasks)


@dataclass
class Probe:
    """One readiness answer of a part."""

    part: str
    at: float
    status: int


async def poll_readiness(c: Cluster, http: aiohttp.ClientSession, parts: list[str],
                         out: list[Probe], stop: asyncio.Event, every: float = 0.5) -> None:
    """Each part's /readyz every `every` seconds until stop (0: no answer in 5 s)."""

    async def one(part: str) -> None:
        while not stop.is_set():
            a = await call(http, "readyz", "GET", c.url(part) + "/readyz")
            out.append(Probe(part, a.start + a.seconds, a.status))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)

    await asyncio.gather(*(one(p) for p in parts))
