"""Devices the user can tell apart: a user-editable name and the last-used time beside
Frontegg's fields in GET /users/v1/mfa/devices, renamed with a bearer route."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from shared.mfa.devices import Device, new_device_id
from tests.conftest import Ids, Stack
from tests.support.responses import assert_envelope
from tests.support.totp_flows import AUTH, code, enroll, login

DEVICES = "/resources/users/v1/mfa/devices"


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


async def test_devices_carry_name_created_and_last_used(stack: Stack, ids: Ids) -> None:
    enrolled_at = stack.clock.time()
    seed, device_id = await enroll(stack, ids)
    phone = Device(id=new_device_id(), tenant_id=ids.tenant, user_id=ids.user, kind="sms",
                   created_at=stack.clock.time(), data={"phoneMasked": "+1 ••• ••• 0123"})
    await stack.stores.devices.add(phone)
    body = await stack.get(DEVICES, token=stack.user_token(ids))
    assert body["authenticators"] == [{"id": device_id, "name": "Authenticator app",
                                       "createdAt": _iso(enrolled_at),
                                       "lastUsedAt": _iso(enrolled_at)}]
    assert body["phones"] == [{"id": phone.id, "phoneNumber": "+1 ••• ••• 0123",
                               "name": "Phone +1 ••• ••• 0123",
                               "createdAt": _iso(phone.created_at), "lastUsedAt": None}]
    stack.clock.advance(300)
    token = await login(stack, ids)
    await stack.post(f"{AUTH}/verify", {"mfaToken": token, "value": code(stack, seed)})
    after = await stack.get(DEVICES, token=stack.user_token(ids))
    assert after["authenticators"][0]["lastUsedAt"] == _iso(stack.clock.time())


async def test_the_session_start_keeps_frontegg_shape(stack: Stack, ids: Ids) -> None:
    _, device_id = await enroll(stack, ids)
    start = await stack.start_session(ids)
    assert start["mfaDevices"]["authenticators"] == [{"id": device_id}]


async def test_rename_shows_in_the_list_and_only_for_the_owner(stack: Stack, ids: Ids) -> None:
    _, device_id = await enroll(stack, ids)
    token = stack.user_token(ids)
    renamed = await stack.call("PATCH", f"{DEVICES}/{device_id}",
                               json={"name": "  Work phone 📱 "}, token=token)
    assert renamed == {"id": device_id, "name": "Work phone 📱"}
    listed = await stack.get(DEVICES, token=token)
    assert listed["authenticators"][0]["name"] == "Work phone 📱"
    other = ids.other()
    refused = await stack.call("PATCH", f"{DEVICES}/{device_id}", json={"name": "Mine now"},
                               token=stack.user_token(other), expected_status=404)
    assert refused["errorCode"] == "ER-MFA-UNKNOWN-DEVICE"
    unknown = await stack.call("PATCH", f"{DEVICES}/{new_device_id()}", json={"name": "X"},
                               token=token, expected_status=404)
    assert unknown == refused
    assert_envelope(await stack.call("PATCH", f"{DEVICES}/{device_id}", json={"name": "X"},
                                     expected_status=401))
    assert (await stack.get(DEVICES, token=token))["authenticators"][0]["name"] == "Work phone 📱"
    rows = await stack.stores.audit.for_user(ids.tenant, ids.user)
    assert [r["action"] for r in rows if r["factor"] == "device"] == ["rename"]
    assert not any("Work phone" in str(r) for r in rows)


@pytest.mark.parametrize("body", [{}, {"name": ""}, {"name": "   "}, {"name": "a\x00b"},
                                  {"name": "x" * 65}, {"name": 7}, {"name": None}])
async def test_bad_names_are_refused_and_change_nothing(stack: Stack, ids: Ids,
                                                        body: dict[str, Any]) -> None:
    _, device_id = await enroll(stack, ids)
    token = stack.user_token(ids)
    assert_envelope(await stack.call("PATCH", f"{DEVICES}/{device_id}", json=body, token=token,
                                     expected_status=400))
    assert (await stack.get(DEVICES, token=token))["authenticators"][0]["name"] == \
        "Authenticator app"
