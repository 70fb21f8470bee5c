"""Unit tests of the ledger's pure parts: what an import changes, what an undo puts back."""

from __future__ import annotations

from synapse.imports.chunks import load_pairs
from synapse.imports.created import _roll_back
from synapse.imports.ledger import as_changes, diff_asset, set_fields

COLUMNS = frozenset({"power_kw", "area"})


def test_same_values_are_no_change_and_other_properties_stay() -> None:
    merged, changes = diff_asset(
        "Pump", {"power_kw": "5", "area": "A", "note": "x"}, "Pump",
        {"power_kw": "5", "area": "A"}, COLUMNS,
    )  # fmt: skip
    assert changes == {}
    assert merged == {"power_kw": "5", "area": "A", "note": "x"}


def test_changed_type_and_value_and_an_empty_cell() -> None:
    merged, changes = diff_asset(
        "Pump", {"power_kw": "5", "area": "A"}, "Motor", {"power_kw": "7"}, COLUMNS
    )
    assert changes == {
        "type": {"old": "Pump", "new": "Motor"},
        "power_kw": {"old": "5", "new": "7"},
        "area": {"old": "A", "new": None},
    }
    assert merged == {"power_kw": "7"}


def test_a_value_of_another_json_type_is_a_change() -> None:
    _merged, changes = diff_asset("Pump", {"power_kw": 5}, "Pump", {"power_kw": "5"}, COLUMNS)
    assert changes == {"power_kw": {"old": 5, "new": "5"}}


def test_derived_properties_go_only_when_something_else_changed() -> None:
    derived = frozenset({"requires_vfd"})
    same = {"power_kw": "60", "area": "A", "requires_vfd": True}
    merged, changes = diff_asset("Motor", same, "Motor", {"power_kw": "60", "area": "A"},
                                 COLUMNS, derived)  # fmt: skip
    assert changes == {} and merged["requires_vfd"] is True
    merged, changes = diff_asset("Motor", same, "Motor", {"power_kw": "10", "area": "A"},
                                 COLUMNS, derived)  # fmt: skip
    assert changes["requires_vfd"] == {"old": True, "new": None}
    assert "requires_vfd" not in merged


def test_set_fields_puts_back_old_values_and_removes_what_was_not_there() -> None:
    kind, props, changes = set_fields(
        "Motor", {"power_kw": "7", "added": "x"}, {"type": "Pump", "power_kw": "5", "added": None}
    )
    assert (kind, props) == ("Pump", {"power_kw": "5"})
    assert changes == {
        "type": {"old": "Motor", "new": "Pump"},
        "power_kw": {"old": "7", "new": "5"},
        "added": {"old": "x", "new": None},
    }


def test_created_and_deleted_read_as_every_field_from_or_to_nothing() -> None:
    values = {"type": "Pump", "properties": {"area": "A"}}
    assert as_changes("created", values) == {
        "type": {"old": None, "new": "Pump"},
        "area": {"old": None, "new": "A"},
    }
    assert as_changes("deleted", values)["area"] == {"old": "A", "new": None}
    assert as_changes("unchanged", None) == {}


def test_chunk_pairs_read_back_sorted_from_text_or_json() -> None:
    assert load_pairs('[[5, "B"], [2, "A"]]') == [(2, "A"), (5, "B")]
    assert load_pairs([[7, "C"]]) == [(7, "C")]
    assert load_pairs(None) == []


def test_values_at_creation_roll_back_through_later_changes() -> None:
    # The asset now, after an update and a rule `set`; rolled back newest first.
    kind, props = "Compressor", {"power_kw": "9", "area": "A", "requires_vfd": True}
    kind, props = _roll_back(kind, props, {"requires_vfd": {"old": None, "new": True}})
    kind, props = _roll_back(
        kind,
        props,
        {"type": {"old": "Motor", "new": "Compressor"}, "power_kw": {"old": "5", "new": "9"}},
    )
    assert (kind, props) == ("Motor", {"power_kw": "5", "area": "A"})
