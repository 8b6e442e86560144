"""How an audit row keeps the client's address (MFA_AUDIT_ADDRESS) and its User-Agent label."""

from __future__ import annotations

import pytest

from shared.http.caller import Caller, recorded_address
from shared.settings import Settings


@pytest.mark.parametrize(("ip", "form", "kept"), [
    ("203.0.113.7", "subscriber", "203.0.113.7"),
    ("2001:db8:aa:bb:1:2:3:4", "subscriber", "2001:db8:aa:bb::/64"),
    ("::ffff:203.0.113.7", "subscriber", "203.0.113.7"),
    ("2001:db8:aa:bb:1:2:3:4", "full", "2001:db8:aa:bb:1:2:3:4"),
    ("203.0.113.7", "network", "203.0.113.0/24"),
    ("2001:db8:aa:bb:1:2:3:4", "network", "2001:db8:aa::/48"),
    ("", "subscriber", ""),
])
def test_the_address_an_audit_row_keeps(ip: str, form: str, kept: str) -> None:
    assert recorded_address(ip, form) == kept


def test_the_caller_is_read_past_trusted_proxies_and_labelled() -> None:
    c = Caller("198.51.100.1, 203.0.113.7, 10.0.0.5", "127.0.0.1",
               "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
               "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1")
    assert c.address(["10.0.0.0/8"]) == "203.0.113.7"  # the client cannot pick its own
    assert c.label() == "Safari on iOS"
    assert Caller(None, None, "").label() == ""


def test_an_unknown_address_form_is_a_start_up_error(keys: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="MFA_AUDIT_ADDRESS"):
        Settings.from_env({**keys, "MFA_AUDIT_ADDRESS": "everything"}).validate()
