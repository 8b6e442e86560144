"""The factor registry (shared.mfa.registry), and the lists read from it, run over every
declared kind: a kind added to KINDS is covered here without new test code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.email.message import TEMPLATE_DIR
from services.email.notices import NoticeTemplates
from services.operators import cli
from services.operators.schemas import Factor
from services.session.profile import device_name, enrolled, mfa_devices
from shared.mfa import registry
from shared.mfa.devices import Device
from shared.mfa.policies import Policy
from shared.settings import Settings

KINDS = registry.KINDS
def _policy(strategies: tuple[str, ...]) -> Policy:
    return Policy(id="t", enforceMFAType="Force", strategies=strategies,
                  allowRememberMyDevice=False, mfaDeviceExpiration=0)


ALL_STRATEGIES = _policy(registry.STRATEGIES)


def _device(kind: registry.Kind) -> Device:
    return Device(id=f"d-{kind.name}", tenant_id="t", user_id="u", kind=kind.name,
                  created_at=0.0, data={"phoneMasked": "+1 *** 0100"})


def test_names_are_unique_and_every_kind_is_reachable_by_name() -> None:
    assert len({k.name for k in KINDS}) == len(KINDS)
    assert all(registry.kind(k.name) is k for k in KINDS)


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_a_kind_is_consistent(kind: registry.Kind) -> None:
    assert kind.label and kind.amr, "every kind names itself and the amr of its login"
    if kind.mfa:  # a second factor: proven by a code or a key, shown in mfaDevices, allowed
        assert kind.array in registry.ARRAYS and kind.strategies and kind.lockout
        assert "mfa" in kind.amr and set(kind.amr) - {"mfa"} <= set(registry.PROOF_AMR)
    else:  # a first factor (passkey) may have a strategy of its own, never an array
        assert kind.array is None
    if kind.carried:
        assert kind.stored and kind.mfa, "the MFA session only copies stored second factors"


@pytest.mark.parametrize("kind", [k for k in KINDS if k.stored], ids=lambda k: k.name)
def test_a_stored_kind_is_in_its_array_and_named_by_its_label(kind: registry.Kind) -> None:
    d = _device(kind)
    view = mfa_devices([d], "", ALL_STRATEGIES, described=True)
    assert set(view) == set(registry.ARRAYS)
    placed = [a for a, items in view.items() if any(i.get("id") == d.id for i in items)]
    assert placed == ([kind.array] if kind.array else [])
    assert enrolled(view) == kind.mfa
    assert registry.is_mfa_device(kind.name) == kind.mfa
    if kind is not registry.SMS:  # a phone is named by its masked number
        assert device_name(d) == kind.label


def test_the_email_factor_appears_only_where_its_strategy_is_on() -> None:
    off = _policy(tuple(s for s in registry.STRATEGIES if s not in registry.EMAIL.strategies))
    assert mfa_devices([], "a@b.test", ALL_STRATEGIES)[registry.EMAIL.array or ""]
    assert not enrolled(mfa_devices([], "a@b.test", off))


def test_every_strategy_governs_a_kind_and_defaults_are_valid() -> None:
    # A strategy may govern several kinds (the authenticator app's: apps and HOTP tokens), and
    # every kind's strategy is one the policy lists.
    assert len(registry.STRATEGIES) == len(set(registry.STRATEGIES))
    assert {s for k in KINDS for s in k.strategies} == set(registry.STRATEGIES)
    assert set(Settings().default_strategies) <= set(registry.STRATEGIES)


def test_operators_list_unlock_and_remove_what_the_registry_declares() -> None:
    factor_option = next(a for sub in cli.parser()._subparsers._group_actions  # noqa: SLF001
                         for name, p in sub.choices.items() if name == "unlock"
                         for a in p._actions if a.dest == "factor")  # noqa: SLF001
    assert tuple(factor_option.choices or ()) == registry.LOCKOUT_FACTORS
    row = {"id": "x", "name": "n", "createdAt": "2026-01-01T00:00:00Z", "lastUsedAt": None,
           "locked": False}
    assert all(Factor().validate({**row, "kind": name}) == {} for name in registry.DEVICE_KINDS)
    assert Factor().validate({**row, "kind": "nope"})


def test_every_locale_names_every_kind_a_notice_can_be_about(tmp_path: Path) -> None:
    NoticeTemplates()  # the shipped templates name them all
    for f in TEMPLATE_DIR.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    fr = tmp_path / "notices.fr.json"
    doc = json.loads(fr.read_text(encoding="utf-8"))
    del doc["factors"][registry.DEVICE_KINDS[-1]]
    fr.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(ValueError, match=registry.DEVICE_KINDS[-1]):
        NoticeTemplates(tmp_path)


def test_the_readme_states_the_registrys_lifecycle() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    table = registry.lifecycle_table()
    assert table in readme, "README's lifecycle table: paste `mfa-admin lifecycle`"
    assert all(f"(`{k.name}`)" in table for k in KINDS)
