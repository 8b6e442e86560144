"""No login is used up without its record: the success's durable writes (the TOTP step and
the audit row, one statement) come before the mfaToken is consumed, so a Postgres fault at
that moment leaves the token, the code and the step usable for a retry."""

from __future__ import annotations

import asyncpg
import pytest

from tests.conftest import Ids, Stack
from tests.support.totp_flows import AUTH, code, enroll, login

FAULT = """
CREATE FUNCTION {name}() RETURNS trigger AS $$
BEGIN
  IF NEW.tenant_id = '{tenant}' AND NEW.outcome = 'success' THEN
    PERFORM pg_terminate_backend(pg_backend_pid());  -- the connection dies mid-statement
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER {name} BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION {name}();
"""


@pytest.mark.parametrize("stack", ["split"], indirect=True)
async def test_a_postgres_fault_during_a_successful_verify_leaves_the_token_usable(
        stack: Stack, ids: Ids) -> None:
    seed, device_id = await enroll(stack, ids)
    token = await login(stack, ids)
    name = f"fault_{ids.tenant.replace('-', '_')}"
    conn = await asyncpg.connect(stack.settings.database_url)
    try:
        await conn.execute(FAULT.format(name=name, tenant=ids.tenant))
        body = {"mfaToken": token, "value": code(stack, seed)}
        res = await stack.post(f"{AUTH}/verify", body, expected_status=503)
        assert res["errorCode"] == "ER-MFA-503"
        device = await stack.stores.devices.get(ids.tenant, ids.user, device_id)
        assert device is not None and device.last_step < int(stack.clock.time()) // 30
    finally:
        await conn.execute(f"DROP TRIGGER IF EXISTS {name} ON audit_events; "
                           f"DROP FUNCTION IF EXISTS {name}()")
        await conn.close()
    done = await stack.post(f"{AUTH}/verify", body)
    assert done["mfaRequired"] is False and done["accessToken"]
    rows = await stack.stores.audit.for_user(ids.tenant, ids.user)
    assert [r["action"] for r in rows if r["outcome"] == "success"][-1] == "verify"
