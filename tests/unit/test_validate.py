"""Unit tests of synapse.imports.validate: RowValidator and RowError."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synapse.errors import InvalidInput
from synapse.imports import reader
from synapse.imports.mapping import plan_columns
from synapse.imports.validate import MAX_TAG, MAX_VALUE, SHOWN_VALUE, RowError, RowValidator

HEADER = ("tag", "type", "power_kw", "area", "description")


def validator(header: tuple[str, ...] = HEADER) -> RowValidator:
    return RowValidator(plan_columns(header))


def test_valid_row() -> None:
    parsed, errors = validator().check(2, ["P-1", "Pump", "5.5", "A1", "Feed pump"])
    assert errors == []
    assert parsed == (
        "P-1",
        "Pump",
        '{"power_kw":"5.5","area":"A1","description":"Feed pump"}',
    )


def test_properties_json_is_compact_unicode_and_trimmed() -> None:
    parsed, errors = validator().check(
        2, [" P-1 ", " Pump ", "  5  ", "Ölraum µ €", ' say "hi"\nnext line ']
    )
    assert errors == []
    assert parsed is not None
    tag, typ, props = parsed
    assert (tag, typ) == ("P-1", "Pump")
    assert props == (
        '{"power_kw":"5","area":"Ölraum µ €","description":"say \\"hi\\"\\nnext line"}'
    )
    assert json.loads(props) == {
        "power_kw": "5",
        "area": "Ölraum µ €",
        "description": 'say "hi"\nnext line',
    }


def test_empty_properties_are_left_out() -> None:
    parsed, errors = validator().check(2, ["P-1", "Pump", "", "   ", "x"])
    assert errors == []
    assert parsed == ("P-1", "Pump", '{"description":"x"}')


def test_no_properties_gives_empty_object() -> None:
    assert validator(("tag", "type")).check(2, ["P-1", "Pump"]) == (("P-1", "Pump", "{}"), [])


def test_tag_and_type_in_any_column_order() -> None:
    v = validator(("area", "type", "note", "tag"))
    assert v.check(2, ["A1", "Pump", "n", "P-1"]) == (
        ("P-1", "Pump", '{"area":"A1","note":"n"}'),
        [],
    )


def test_property_keys_are_the_normalised_header_names(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(b" Tag ;TYPE; Power   KW ;Area\r\nP-1;Pump;5;A1\r\n")
    fmt = reader.sniff(path)
    rows = reader.iter_rows(path, fmt)
    _n, header = next(rows)
    v = RowValidator(plan_columns(header))
    (row, fields) = next(rows)
    assert v.check(row, fields) == (("P-1", "Pump", '{"power_kw":"5","area":"A1"}'), [])


# -- tag and type ---------------------------------------------------------------------------


@pytest.mark.parametrize("tag", ["", "   ", "\t"])
def test_missing_tag(tag: str) -> None:
    parsed, errors = validator().check(7, [tag, "Pump", "", "", ""])
    assert parsed is None
    assert errors == [RowError(7, "tag", "", "tag is required")]


@pytest.mark.parametrize("typ", ["", "  "])
def test_missing_type(typ: str) -> None:
    parsed, errors = validator().check(3, ["P-1", typ])
    assert parsed is None
    assert errors == [RowError(3, "type", "", "type is required")]


def test_missing_tag_and_type_are_both_reported() -> None:
    parsed, errors = validator().check(4, ["", "", "5", "A1", ""])
    assert parsed is None
    assert errors == [
        RowError(4, "tag", "", "tag is required"),
        RowError(4, "type", "", "type is required"),
    ]


def test_tag_of_max_length_is_fine() -> None:
    tag = "T" * MAX_TAG
    assert MAX_TAG == 100
    parsed, errors = validator().check(2, [tag, "Pump"])
    assert errors == []
    assert parsed == (tag, "Pump", "{}")


def test_tag_longer_than_100() -> None:
    tag = "T" * (MAX_TAG + 1)
    parsed, errors = validator().check(2, [tag, "Pump"])
    assert parsed is None
    assert errors == [RowError(2, "tag", tag, "tag is longer than 100 characters")]


def test_type_longer_than_100() -> None:
    typ = "y" * 101
    parsed, errors = validator().check(2, ["P-1", typ])
    assert parsed is None
    assert errors == [RowError(2, "type", typ, "type is longer than 100 characters")]


def test_long_tag_length_counts_after_trimming() -> None:
    tag = "T" * MAX_TAG
    assert validator().check(2, [f"  {tag}  ", "Pump"])[1] == []


@pytest.mark.parametrize(
    "tag", ["P-1\nP-2", "P-1\r\nP-2", "P\r1", "P\t1", "P\x001", "P\x1b[31m1", "P\x1f1"]
)
def test_control_characters_in_tag(tag: str) -> None:
    parsed, errors = validator().check(5, [tag, "Pump"])
    assert parsed is None
    assert errors == [
        RowError(5, "tag", tag, "tag contains control characters or a newline"),
    ]


def test_control_characters_in_type() -> None:
    parsed, errors = validator().check(5, ["P-1", "Pu\nmp"])
    assert parsed is None
    assert errors == [
        RowError(5, "type", "Pu\nmp", "type contains control characters or a newline"),
    ]


def test_surrounding_newlines_are_trimmed_not_errors() -> None:
    assert validator().check(2, ["\nP-1\r\n", "\tPump\n"]) == (("P-1", "Pump", "{}"), [])


def test_international_tag_is_fine() -> None:
    assert validator().check(2, ["Ölpumpe-µ-€", "Pumpe"]) == (("Ölpumpe-µ-€", "Pumpe", "{}"), [])


def test_newlines_inside_property_values_are_fine() -> None:
    parsed, errors = validator().check(2, ["P-1", "Pump", "", "", "line 1\r\nline 2"])
    assert errors == []
    assert parsed is not None
    assert json.loads(parsed[2]) == {"description": "line 1\r\nline 2"}


# -- values ---------------------------------------------------------------------------------


def test_value_of_max_length_is_fine() -> None:
    value = "v" * MAX_VALUE
    parsed, errors = validator().check(2, ["P-1", "Pump", "", "", value])
    assert errors == []
    assert parsed is not None
    assert json.loads(parsed[2]) == {"description": value}


def test_value_longer_than_10000() -> None:
    value = "v" * (MAX_VALUE + 1)
    assert MAX_VALUE == 10_000
    parsed, errors = validator().check(9, ["P-1", "Pump", "", "", value])
    assert parsed is None
    assert errors == [
        RowError(9, "description", "v" * SHOWN_VALUE + "…", "longer than 10000 characters"),
    ]


def test_every_long_value_is_reported() -> None:
    long = "x" * (MAX_VALUE + 1)
    _, errors = validator().check(2, ["P-1", "Pump", long, "", long])
    assert [e.column for e in errors] == ["power_kw", "description"]


# -- field counts ---------------------------------------------------------------------------


def test_more_fields_than_header_is_an_error() -> None:
    parsed, errors = validator(("tag", "type", "area")).check(6, ["P-1", "Pump", "A1", "surprise"])
    assert parsed is None
    assert errors == [RowError(6, None, None, "row has 4 fields but the header has 3")]


def test_extra_fields_that_are_empty_are_ignored() -> None:
    v = validator(("tag", "type", "area"))
    assert v.check(2, ["P-1", "Pump", "A1", "", "  ", ""]) == (
        ("P-1", "Pump", '{"area":"A1"}'),
        [],
    )


def test_extra_non_empty_field_after_empty_ones_is_an_error() -> None:
    _, errors = validator(("tag", "type")).check(2, ["P-1", "Pump", "", "", "x"])
    assert errors == [RowError(2, None, None, "row has 5 fields but the header has 2")]


def test_fewer_fields_than_header_is_fine() -> None:
    v = validator()
    assert v.check(2, ["P-1", "Pump", "5"]) == (("P-1", "Pump", '{"power_kw":"5"}'), [])
    assert v.check(3, ["P-2", "Valve"]) == (("P-2", "Valve", "{}"), [])


def test_fewer_fields_missing_type() -> None:
    parsed, errors = validator().check(2, ["P-1"])
    assert parsed is None
    assert errors == [RowError(2, "type", "", "type is required")]


def test_single_empty_field() -> None:
    _, errors = validator().check(2, [""])
    assert [e.column for e in errors] == ["tag", "type"]


# -- columns without a name -----------------------------------------------------------------


def test_value_in_unnamed_column_is_an_error() -> None:
    v = validator(("tag", "type", "", "area"))
    parsed, errors = v.check(3, ["P-1", "Pump", "oops", "A1"])
    assert parsed is None
    assert errors == [RowError(3, "column 3", "oops", "value in a column with no name")]


def test_empty_value_in_unnamed_column_is_ignored() -> None:
    v = validator(("tag", "type", "", "area", ""))
    assert v.check(3, ["P-1", "Pump", "  ", "A1", ""]) == (("P-1", "Pump", '{"area":"A1"}'), [])
    assert v.check(4, ["P-2", "Valve"]) == (("P-2", "Valve", "{}"), [])


def test_long_value_in_unnamed_column_is_shortened() -> None:
    value = "z" * 500
    _, errors = validator(("tag", "type", "")).check(2, ["P-1", "Pump", value])
    assert errors == [
        RowError(2, "column 3", "z" * SHOWN_VALUE + "…", "value in a column with no name")
    ]


# -- duplicate tags -------------------------------------------------------------------------


def test_duplicate_tag_names_the_first_row() -> None:
    v = validator()
    assert v.check(2, ["P-1", "Pump"])[1] == []
    assert v.check(3, ["P-2", "Pump"])[1] == []
    parsed, errors = v.check(5, ["P-1", "Valve"])
    assert parsed is None
    assert errors == [RowError(5, "tag", "P-1", "duplicate tag, first seen on row 2")]
    # A third occurrence still points at the first one.
    assert v.check(8, [" P-1 ", "Motor"])[1] == [
        RowError(8, "tag", "P-1", "duplicate tag, first seen on row 2")
    ]


def test_duplicate_tag_is_per_validator() -> None:
    assert validator().check(2, ["P-1", "Pump"])[1] == []
    assert validator().check(2, ["P-1", "Pump"])[1] == []


def test_seen_records_first_rows() -> None:
    v = validator()
    v.check(2, ["P-1", "Pump"])
    v.check(4, ["P-2", "Pump"])
    v.check(6, ["P-1", "Pump"])
    assert v.seen == {"P-1": 2, "P-2": 4}


def test_duplicate_tag_is_listed_with_the_other_errors_of_the_row() -> None:
    """Every problem of a row is listed: a repeated tag too, not only on the next attempt."""
    v = validator()
    assert v.check(2, ["P-1", "Pump"])[1] == []
    parsed, errors = v.check(3, ["P-1", ""])
    assert parsed is None
    assert RowError(3, "type", "", "type is required") in errors
    assert RowError(3, "tag", "P-1", "duplicate tag, first seen on row 2") in errors


# -- everything at once ---------------------------------------------------------------------


def test_every_error_of_a_row_is_listed() -> None:
    v = validator(("tag", "type", "", "note"))
    long = "n" * (MAX_VALUE + 1)
    parsed, errors = v.check(12, ["", "", "unnamed", long, "extra"])
    assert parsed is None
    assert errors == [
        RowError(12, None, None, "row has 5 fields but the header has 4"),
        RowError(12, "tag", "", "tag is required"),
        RowError(12, "type", "", "type is required"),
        RowError(12, "column 3", "unnamed", "value in a column with no name"),
        RowError(12, "note", "n" * SHOWN_VALUE + "…", "longer than 10000 characters"),
    ]


def test_row_error_as_dict() -> None:
    assert RowError(3, "tag", "P-1", "why").as_dict() == {
        "row": 3,
        "column": "tag",
        "value": "P-1",
        "reason": "why",
    }
    assert RowError(4, None, None, "r").as_dict() == {
        "row": 4,
        "column": None,
        "value": None,
        "reason": "r",
    }


def test_header_without_tag_or_type_is_refused() -> None:
    with pytest.raises(InvalidInput, match="tag"):
        RowValidator(plan_columns(("name", "type")))
    with pytest.raises(InvalidInput, match="type"):
        RowValidator(plan_columns(("tag", "category")))
