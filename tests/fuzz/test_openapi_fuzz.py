"""Fuzz every public route from the gateway's own OpenAPI document with schemathesis, in split
mode (real processes, Redis, Postgres, SMTP): no 5xx, every answer matching the schema its route
declares (errors: Frontegg's envelope), nothing logged at ERROR, at least MIN_REQUESTS requests."""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from shared.clock import SystemClock
from shared.mfa.tokens import TokenIssuer
from tests.conftest import PREFIX, RUN_PREFIX
from tests.fuzz.split import SplitProcesses, run_split
from tests.support.responses import strict_responses
from tests.support.smtp_server import SmtpServer

# Examples per operation: 40 operations x 300 (fewer where the inputs run out) is above
# MIN_REQUESTS; raise both for a longer run.
EXAMPLES = int(os.environ.get("MFA_FUZZ_EXAMPLES", "300"))
MIN_REQUESTS = int(os.environ.get("MFA_FUZZ_MIN_REQUESTS", "10000"))
TENANT = f"t-fuzz-{uuid.uuid4().hex[:8]}"
USER = f"u-fuzz-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def split(keys: dict[str, str], pg_url: str, redis_url: str,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[SplitProcesses]:
    """The gateway and every service as processes, and the SMTP server email codes use."""
    smtp = SmtpServer().start()
    # Redis keys of its own: its thousands of requests from 127.0.0.1 fill per-address caps
    # (recovery, SMS) that the other tests of the run rely on being empty.
    env = {**keys, "MFA_DATABASE_URL": pg_url, "MFA_REDIS_URL": redis_url,
           "MFA_REDIS_PREFIX": f"{RUN_PREFIX}fuzz:", "MFA_LOG_LEVEL": "WARNING",
           "MFA_SMTP_HOST": "127.0.0.1", "MFA_SMTP_PORT": str(smtp.port),
           "MFA_SMTP_TLS": "none", "MFA_SMTP_FROM": "mfa@example.test",
           "MFA_VENDOR_CLAIM": "scope"}
    try:
        yield from run_split(env, Path(tmp_path_factory.mktemp("fuzz-logs")))
    finally:
        smtp.stop()


def _internal(split: SplitProcesses, path: str, body: dict[str, Any], service: str = "session",
              token: str = "", **headers: str) -> dict[str, Any]:
    """A call straight to a service, with the internal API key (the session start) or the
    token given (a vendor token: the operators' policy)."""
    token = token or split.env["MFA_INTERNAL_API_KEY"]
    r = requests.post(split.urls[service] + path, json=body, timeout=30,
                      headers={"Authorization": f"Bearer {token}", **headers})
    assert r.status_code == 200, r.text
    return dict(r.json())


class Fuzzer:
    """Sends generated cases with a logged-in bearer where a route takes one, and checks them."""

    def __init__(self, split: SplitProcesses, keys: dict[str, str]) -> None:
        self.base = split.urls["gateway"] + PREFIX
        self.http = requests.Session()
        issuer = TokenIssuer(keys["MFA_JWT_PRIVATE_KEY"], keys["MFA_JWT_KEY_ID"], SystemClock(),
                             issuer="mfa-service", ttl=3600)
        token, _ = issuer.issue(user_id=USER, tenant_id=TENANT, email=f"{USER}@example.test",
                                amr=["mfa", "otp"], extra={"roles": ["Admin"]})
        self.bearer = f"Bearer {token}"
        self.vendor, _ = issuer.issue(user_id="fuzz-ops", tenant_id=TENANT, email="",
                                      amr=["pwd"], mfa=False, extra={"scope": "vendor"})
        self.split = split
        self.sent: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()

    def check(self, case: schemathesis.Case) -> None:
        """One request: the case as generated, plus the bearer on routes that declare one, and
        on every third case of a mid-login route a live mfaToken, so the fuzz gets past the
        token check into enrollment and verification."""
        headers = {}
        # Only into a positive case: a negative one must stay invalid (a live token would make
        # a deliberately broken body valid, and its 200 then look like a broken check).
        positive = case.meta is None or case.meta.generation.mode == GenerationMode.POSITIVE
        generated = [n for n in case.headers or {} if n.lower() == "authorization"]
        # Our bearer where the route takes one, instead of a generated Authorization (the
        # checks would read our 200 as a made-up credential accepted); but a negative case
        # that made up its own Authorization keeps it: it must be refused (401).
        if case.operation.definition.raw.get("security") and (positive or not generated):
            headers["Authorization"] = self.bearer
            for name in generated:
                del case.headers[name]
        if positive and self.sent[case.operation.label] % 3 == 2:
            for part in (case.body, case.query):
                if isinstance(part, dict) and isinstance(part.get("mfaToken"), str):
                    part["mfaToken"] = self.mfa_token()
        response = case.call(base_url=self.base, session=self.http, headers=headers,
                             timeout=30)
        self.sent[case.operation.label] += 1
        self.statuses[response.status_code] += 1
        # A schema-valid body with a wrong code, token or id is a 4xx in Frontegg's API, so
        # "valid data is accepted" does not hold; every other check does.
        case.validate_response(response, headers=headers,
                               excluded_checks=[positive_data_acceptance])


    def mfa_token(self) -> str:
        """A fresh MFA session for the fuzz user (forced enrollment: no factor yet). The fuzz
        may have saved a policy that lets the user in without MFA (PUT/POST mfa-policy with
        DontForce, a strategy switched off): then the tenant's policy is set back first."""
        body = {"userId": USER, "tenantId": TENANT, "email": f"{USER}@example.test"}
        started = _internal(self.split, "/internal/v1/mfa/sessions", body)
        if "mfaToken" not in started:
            _force_mfa(self.split, self.vendor)
            started = _internal(self.split, "/internal/v1/mfa/sessions", body)
        return str(started["mfaToken"])


def _force_mfa(split: SplitProcesses, vendor: str) -> None:
    """The fuzz tenant's policy: MFA forced, every strategy on (a vendor token bound to the
    tenant: the internal API key is no vendor credential on this public route)."""
    _internal(split, "/resources/configurations/v1/mfa-policy",
              {"enforceMFAType": "Force",
               "strategies": ["AuthenticatorApp", "WebAuthnPlatform", "WebAuthnCrossPlatform",
                              "SMS", "EmailCode"]}, "operators", vendor,
              **{"frontegg-tenant-id": TENANT})


def _fuzz(fuzzer: Fuzzer, operation: Any) -> None:
    strategy = st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                         operation.as_strategy(GenerationMode.NEGATIVE))

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              phases=[Phase.explicit, Phase.generate, Phase.shrink],
              suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def run(case: schemathesis.Case) -> None:
        fuzzer.check(case)

    run()


def test_fuzz_every_public_route(split: SplitProcesses, keys: dict[str, str]) -> None:
    doc = requests.get(split.urls["gateway"] + "/openapi.json", timeout=30).json()
    fuzzer = Fuzzer(split, keys)
    _force_mfa(split, fuzzer.vendor)
    schema = schemathesis.openapi.from_dict(strict_responses(doc))
    failures: dict[str, str] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        try:
            _fuzz(fuzzer, operation)
        except Exception as e:  # every operation runs; all failures are reported together
            failures[operation.label] = f"{e.__class__.__name__}: {str(e)[:3000]}"
    assert not failures, "\n\n".join(f"{k}\n{v}" for k, v in failures.items())
    assert not split.loud_lines(), split.loud_lines()[:20]
    labels = {f"{m.upper()} {p}" for p, ops in doc["paths"].items() for m in ops}
    assert set(fuzzer.sent) == labels, labels - set(fuzzer.sent)
    total = sum(fuzzer.sent.values())
    print(f"fuzz: {total} requests over {len(labels)} operations, statuses "
          f"{dict(sorted(fuzzer.statuses.items()))}")
    assert total >= MIN_REQUESTS, (total, fuzzer.sent)
