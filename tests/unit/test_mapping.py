"""Unit tests of synapse.imports.mapping and .headers: property names, synonyms, column plans,
header rows."""

from __future__ import annotations

import pytest

from synapse.errors import InvalidInput
from synapse.imports.headers import (
    MAX_PROPERTY_NAME,
    TAG_SYNONYMS,
    TYPE_SYNONYMS,
    auto_target,
    header_key,
    property_name,
)
from synapse.imports.mapping import ColumnPlan, find_header_row, plan_columns


def invalid(header: list[str], mapping: dict[str, str | None] | None = None) -> str:
    with pytest.raises(InvalidInput) as caught:
        plan_columns(header, mapping)
    return str(caught.value)


# -- property_name ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("Rated Power [kW]", "rated_power_kw"),
        ("Voltage (V)", "voltage_v"),
        ("Ölstand", "ölstand"),
        ("O\u0308lstand", "ölstand"),  # decomposed Ö, as macOS writes it
        ("Flow [µm/s]", "flow_µm_s"),
        ("power_kw", "power_kw"),
        ("voltage", "voltage"),
        ("location", "location"),
        ("Temp [°C]", "temp_c"),
        ("Load [%]", "load_pct"),
        ("Efficiency %", "efficiency_pct"),
        ("Pump #", "pump"),
        ("Power [kW] rated", "power_rated_kw"),
        ("Flow (max) [m³/h]", "flow_max_m³_h"),
        ("  Motor   Speed\n(rpm) ", "motor_speed_rpm"),
        ("\ufeffTag", "tag"),
        ("—", ""),
        ("(—)", ""),
        ("", ""),
        ("   ", ""),
    ],
)
def test_property_name(header: str, name: str) -> None:
    assert property_name(header) == name


def test_property_name_collapses_every_run_of_non_alphanumerics() -> None:
    assert property_name("__a -- b__") == "a_b"
    assert property_name("A/B\\C.D") == "a_b_c_d"


# -- auto_target --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        "tag",
        "Tag",
        "TAG",
        "Tag No",
        "Tag No.",
        "Tag Number",
        "Tag #",
        "TagNo",
        "tag_no",
        "Tag-No",
        "Tag ID",
        "Tag Name",
        "Asset Tag",
        "Equipment Tag",
        "Instrument Tag",
        "Item Tag",
        "Item No.",
        "Equipment No.",
        "Equipment Number",
        " tag  no. [-] ",
        "[Tag]",
    ],
)
def test_tag_synonyms(header: str) -> None:
    assert auto_target(header) == "tag"


@pytest.mark.parametrize(
    "header",
    [
        "type",
        "Type",
        "Asset Type",
        "Equipment Type",
        "Instrument-Type",
        "Item type",
        "Device Type",
        "Kind",
        "TYPE (-)",
    ],
)
def test_type_synonyms(header: str) -> None:
    assert auto_target(header) == "type"


@pytest.mark.parametrize(
    ("header", "target"),
    [
        ("Class", "prop:class"),
        ("Category", "prop:category"),
        ("Equipment", "prop:equipment"),
        ("Tag list for plant 7", "prop:tag_list_for_plant_7"),
        ("Rated Power [kW]", "prop:rated_power_kw"),
        ("power_kw", "prop:power_kw"),
        ("", None),
        ("  ", None),
        ("—", None),
    ],
)
def test_other_headers(header: str, target: str | None) -> None:
    assert auto_target(header) == target


def test_synonym_lists_do_not_overlap() -> None:
    tags = {auto_target(s) for s in TAG_SYNONYMS}
    types = {auto_target(s) for s in TYPE_SYNONYMS}
    assert tags == {"tag"}
    assert types == {"type"}


# -- plan_columns: the automatic rule ------------------------------------------------------


def test_todays_plain_csv_header_keeps_todays_names() -> None:
    header = ["tag", "type", "power_kw", "voltage", "location"]
    plan = plan_columns(header)
    assert (plan.tag, plan.type) == (0, 1)
    # As before: the header lowercased and trimmed.
    assert plan.property_names == ("power_kw", "voltage", "location")
    assert plan.props == ((2, "power_kw"), (3, "voltage"), (4, "location"))
    assert plan.ignored == plan.unnamed == ()
    upper = plan_columns([" TAG ", "Type", "Power_KW", "Voltage ", "LOCATION"])
    assert upper.property_names == plan.property_names


def test_engineers_header() -> None:
    plan = plan_columns(["Tag No.", "Equipment Type", "Rated Power [kW]", "Voltage (V)", "Class"])
    assert plan == ColumnPlan(
        tag=0,
        type=1,
        props=((2, "rated_power_kw"), (3, "voltage_v"), (4, "class")),
        ignored=(),
        unnamed=(),
        mapping={
            "Tag No.": "tag",
            "Equipment Type": "type",
            "Rated Power [kW]": "prop:rated_power_kw",
            "Voltage (V)": "prop:voltage_v",
            "Class": "prop:class",
        },
        auto={
            "Tag No.": "tag",
            "Equipment Type": "type",
            "Rated Power [kW]": "prop:rated_power_kw",
            "Voltage (V)": "prop:voltage_v",
            "Class": "prop:class",
        },
        header=("Tag No.", "Equipment Type", "Rated Power [kW]", "Voltage (V)", "Class"),
    )


def test_columns_in_any_order() -> None:
    plan = plan_columns(["Area", "Kind", "Note", "Asset Tag"])
    assert (plan.tag, plan.type) == (3, 1)
    assert plan.props == ((0, "area"), (2, "note"))


def test_headers_are_trimmed() -> None:
    plan = plan_columns(["\ufeff Tag ", " Type", "  Rated Power [kW]\n"])
    assert plan.header == ("Tag", "Type", "Rated Power [kW]")
    assert list(plan.mapping) == ["Tag", "Type", "Rated Power [kW]"]


def test_unnamed_columns_are_ignored_and_must_be_empty() -> None:
    plan = plan_columns(["tag", "", "type", "  ", "—", "x"])
    assert plan.unnamed == (1, 3, 4)
    assert plan.ignored == (1, 3, 4)
    assert plan.props == ((5, "x"),)
    assert plan.mapping == {"tag": "tag", "type": "type", "x": "prop:x"}


def test_exact_tag_wins_over_a_synonym_which_becomes_a_property() -> None:
    # Today "tag no" and "equipment type" next to tag and type are properties: still so.
    plan = plan_columns(["Tag", "Type", "Tag No.", "Equipment Type"])
    assert (plan.tag, plan.type) == (0, 1)
    assert plan.props == ((2, "tag_no"), (3, "equipment_type"))
    assert plan.auto["Tag No."] == "prop:tag_no"
    assert plan.mapping["Equipment Type"] == "prop:equipment_type"


def test_the_header_of_a_workbook_with_a_title_block() -> None:
    rows = [
        (1, ["Plant 7 — instrument list", "", "", ""]),
        (2, ["Revision B", "", "", "2026-03-01"]),
        (4, ["Tag No.", "Instrument Type", "Range [bar]", "Loop"]),
        (5, ["PT-101", "Pressure transmitter", "0-10", "L-1"]),
        (6, ["PT-102", "Pressure transmitter", "0-16", "L-2"]),
    ]
    at = find_header_row(rows)
    assert at == 2
    number, header = rows[at]
    assert number == 4
    plan = plan_columns(header)
    assert (plan.tag, plan.type) == (0, 1)
    assert plan.props == ((2, "range_bar"), (3, "loop"))


# -- plan_columns: with a mapping ---------------------------------------------------------


def test_mapping_renames_ignores_and_names_a_property() -> None:
    header = ["Kennzeichen", "Art", "Rated Power [kW]", "Comment", "Area"]
    mapping: dict[str, str | None] = {
        "Kennzeichen": "tag",
        "art": "type",  # matched ignoring case
        "Rated  power [kW]": "prop:power",  # ... and runs of whitespace
        "Comment": None,
    }
    plan = plan_columns(header, mapping)
    assert (plan.tag, plan.type) == (0, 1)
    assert plan.props == ((2, "power"), (4, "area"))
    assert plan.property_names == ("power", "area")
    assert plan.ignored == (3,)
    assert plan.unnamed == ()
    assert plan.mapping == {
        "Kennzeichen": "tag",
        "Art": "type",
        "Rated Power [kW]": "prop:power",
        "Comment": None,
        "Area": "prop:area",
    }
    assert plan.auto == {
        "Kennzeichen": "prop:kennzeichen",
        "Art": "prop:art",
        "Rated Power [kW]": "prop:rated_power_kw",
        "Comment": "prop:comment",
        "Area": "prop:area",
    }


def test_mapping_property_names_are_kept_as_given_but_trimmed() -> None:
    plan = plan_columns(["tag", "type", "Power kW"], {"Power kW": "prop:  power kw "})
    assert plan.property_names == ("power kw",)
    assert plan.mapping["Power kW"] == "prop:power kw"


def test_exact_key_wins_over_a_case_insensitive_one() -> None:
    plan = plan_columns(["Tag", "Type", "Note", "note"], {"Note": None, "note": "prop:note"})
    assert plan.ignored == (2,)
    assert plan.props == ((3, "note"),)


def test_the_mapping_used_gives_the_same_plan_again() -> None:
    header = ["Tag", "Type", "Tag No.", "Rated Power [kW]", "", "Comment"]
    first = plan_columns(header, {"Comment": None})
    again = plan_columns(header, first.mapping)
    assert again.mapping == first.mapping
    assert (again.tag, again.type, again.props) == (first.tag, first.type, first.props)
    assert (again.ignored, again.unnamed) == (first.ignored, first.unnamed)


def test_a_mapped_tag_wins_over_a_synonym() -> None:
    plan = plan_columns(["Tag No.", "Asset Tag", "Type"], {"Asset Tag": "tag"})
    assert plan.tag == 1
    assert plan.props == ((0, "tag_no"),)


def test_mapping_a_nameless_header() -> None:
    plan = plan_columns(["tag", "type", "—"], {"—": "prop:remark"})
    assert plan.props == ((2, "remark"),)
    assert plan.unnamed == ()


def test_an_ignored_repeated_header_is_no_duplicate() -> None:
    plan = plan_columns(["tag", "type", "Notes", "notes"], {"notes": None})
    assert plan.ignored == (2, 3)


# -- plan_columns: errors -----------------------------------------------------------------


def test_no_tag_column() -> None:
    message = invalid(["Equipment", "Type", "Power [kW]"])
    assert message == (
        "no column for the asset tag: map one of the file's columns to tag "
        "(the header has: Equipment, Type, Power [kW])"
    )


def test_no_type_column() -> None:
    message = invalid(["Tag", "Power [kW]", "", "Class"])
    assert message == (
        "no column for the asset type: map one of the file's columns to type "
        "(the header has: Tag, Power [kW], Class)"
    )


def test_neither_tag_nor_type() -> None:
    message = invalid(["Equipment", "Power [kW]"])
    assert message.startswith("no columns for the asset tag and type")
    assert "(the header has: Equipment, Power [kW])" in message


def test_mapping_the_only_tag_to_null_leaves_no_tag() -> None:
    assert invalid(["Tag", "Type"], {"Tag": None}).startswith("no column for the asset tag")


def test_a_long_header_list_is_shortened() -> None:
    message = invalid(["Type", *(f"c{i}" for i in range(40))])
    assert "c28, … (11 more)" in message  # "Type" and c0 to c28: 30 headers
    assert "c29" not in message


def test_two_columns_mapped_to_tag() -> None:
    message = invalid(["Tag No.", "Tag", "Type"], {"Tag No.": "tag"})
    assert message.startswith("columns 'Tag No.' and 'Tag' both map to tag")


def test_two_synonyms_for_tag() -> None:
    message = invalid(["Tag No.", "Asset Tag", "Type"])
    assert message.startswith("columns 'Tag No.' and 'Asset Tag' both map to tag")


def test_three_columns_for_type() -> None:
    message = invalid(["tag", "Kind", "Item Type", "Device Type"])
    assert message.startswith("columns 'Kind', 'Item Type' and 'Device Type' all map to type")


def test_two_columns_mapped_to_one_property() -> None:
    message = invalid(["tag", "type", "A", "B"], {"A": "prop:x", "B": "prop:x"})
    assert message.startswith("columns 'A' and 'B' both map to the property 'x'")


def test_two_headers_giving_one_property_name() -> None:
    message = invalid(["tag", "type", "Power kW", "Power [kW]"])
    assert message.startswith("columns 'Power kW' and 'Power [kW]' both map to the property")


def test_repeated_header() -> None:
    assert invalid(["tag", "type", "Notes", " notes "]).startswith(
        "duplicate column names in the header: notes"
    )
    assert invalid(["tag", "Tag", "type"]).startswith("duplicate column names in the header: tag")


def test_mapping_key_the_file_does_not_have() -> None:
    message = invalid(["Tag", "Type", "Power"], {"Tag Nr": "tag"})
    assert message == (
        "the mapping names a column the file does not have: 'Tag Nr' "
        "(the header has: Tag, Type, Power)"
    )
    message = invalid(["Tag", "Type"], {"A": None, "B": None})
    assert message.startswith("the mapping names columns the file does not have: 'A' and 'B'")


def test_blank_mapping_key() -> None:
    assert "empty header" in invalid(["tag", "type", ""], {" ": None})


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        ("prop:", "the property name is empty"),
        ("prop:   ", "the property name is empty"),
        ("Tag", "a target must be tag, type, prop:<name> or null"),
        ("ignore", "a target must be tag, type, prop:<name> or null"),
        ("property:x", "a target must be tag, type, prop:<name> or null"),
        ("prop:tag", "'tag' cannot be a property name"),
        ("prop:Type", "'Type' cannot be a property name"),
        ("prop:a\nb", "the property name contains control characters"),
        ("prop:" + "x" * (MAX_PROPERTY_NAME + 1), "longer than 100 characters"),
    ],
)
def test_bad_targets(target: str, problem: str) -> None:
    message = invalid(["tag", "type", "Power"], {"Power": target})
    assert message.startswith("the mapping for 'Power' is ")
    assert problem in message


def test_a_target_that_is_not_text() -> None:
    mapping: dict[str, object] = {"Power": 3}
    message = invalid(["tag", "type", "Power"], mapping)  # type: ignore[arg-type]
    assert message.startswith("the mapping for 'Power' is 3: a target must be")


def test_longest_property_name_is_accepted() -> None:
    name = "x" * MAX_PROPERTY_NAME
    assert plan_columns(["tag", "type", "a"], {"a": f"prop:{name}"}).property_names == (name,)


def test_a_header_too_long_for_a_property_name() -> None:
    message = invalid(["tag", "type", "y" * 150])
    assert "longer than 100 characters" in message
    assert "map it to prop:<name> or to null" in message
    assert plan_columns(["tag", "type", "y" * 150], {"y" * 150: None}).ignored == (2,)


def test_conflicting_keys_for_one_column() -> None:
    message = invalid(["tag", "type", "Note"], {"NOTE": None, "note": "prop:note"})
    assert "'NOTE' and 'note' all name the column 'Note'" in message


# -- find_header_row ----------------------------------------------------------------------


def test_header_in_the_first_row() -> None:
    assert find_header_row([(1, ["tag", "type"]), (2, ["P-1", "Pump"])]) == 0


def test_header_row_by_the_mapping() -> None:
    rows = [(1, ["Project X"]), (3, ["Kennzeichen", "Art"]), (4, ["P-1", "Pumpe"])]
    assert find_header_row(rows, {"kennzeichen": "tag", "Art": "type"}) == 1
    assert find_header_row(rows, {"Kennzeichen": "tag"}) == 1


def test_a_mapping_can_overrule_an_automatic_tag() -> None:
    rows = [(1, ["Item No.", "Kind"]), (2, ["Pos", "Tag", "Type"])]
    assert find_header_row(rows) == 0
    assert find_header_row(rows, {"Item No.": None}) == 1


def test_a_row_with_tag_and_type_is_preferred() -> None:
    rows = [
        (1, ["Tag", "list for plant 7"]),
        (2, ["Tag No.", "Equipment Type", "Power"]),
    ]
    assert find_header_row(rows) == 1
    # With no row naming a type the first one naming a tag.
    assert find_header_row([(1, ["x"]), (2, ["Tag", "a"]), (3, ["Tag No.", "b"])]) == 1


def test_title_rows_are_not_headers() -> None:
    rows = [
        (1, ["Plant 7 — instrument list"]),
        (2, ["Revision B"]),
        (3, ["Tag list", "", "type list"]),
    ]
    with pytest.raises(InvalidInput) as caught:
        find_header_row(rows)
    message = str(caught.value)
    assert message.startswith(
        "no header row found in the first 3 rows: none of them names a tag column "
        "(looked for Tag, Tag No., Tag Number, Asset Tag"
    )
    assert message.endswith("; give header_row or map a column to tag")


def test_only_the_first_rows_are_searched() -> None:
    rows = [(n, [f"title {n}"]) for n in range(1, 26)] + [(26, ["Tag", "Type"])]
    with pytest.raises(InvalidInput, match="in the first 20 rows"):
        find_header_row(rows)
    assert find_header_row(rows, within=30) == 25


def test_the_mapping_tag_key_is_in_the_message() -> None:
    with pytest.raises(InvalidInput, match=r"looked for 'Kennz\.' \(from the mapping\), Tag,"):
        find_header_row([(1, ["a", "b"])], {"Kennz.": "tag"})


def test_given_header_row() -> None:
    rows = [(1, ["Plant 7"]), (3, ["Pos", "Name", "Kind"]), (4, ["1", "P-1", "Pump"])]
    assert find_header_row(rows, header_row=3) == 1
    with pytest.raises(InvalidInput) as caught:
        find_header_row(rows, header_row=2)
    assert str(caught.value) == "row 2 is empty; the header row must name the columns"
    with pytest.raises(InvalidInput, match="row 7 is empty"):
        find_header_row(rows, header_row=7)
    with pytest.raises(InvalidInput, match="from 1, not 0"):
        find_header_row(rows, header_row=0)


def test_no_rows() -> None:
    with pytest.raises(InvalidInput, match="the file is empty"):
        find_header_row([])


def test_bad_mapping_in_find_header_row() -> None:
    with pytest.raises(InvalidInput, match="a target must be"):
        find_header_row([(1, ["tag", "type"])], {"tag": "TAG"})


# -- header_key ---------------------------------------------------------------------------


def test_header_key_ignores_case_spacing_and_blank_columns() -> None:
    key = header_key(["Tag No.", "Equipment Type", "Rated Power [kW]"])
    assert len(key) == 32
    assert int(key, 16) >= 0
    assert header_key([" TAG NO.", "equipment  type", "", "Rated\nPower [KW] "]) == key
    assert header_key(["\ufeffTag No.", "Equipment Type", "Rated Power [kW]"]) == key


def test_header_key_differs_for_different_columns() -> None:
    key = header_key(["Tag", "Type", "Power"])
    assert header_key(["Tag", "Type", "Voltage"]) != key
    assert header_key(["Tag", "Power", "Type"]) != key
    assert header_key(["Tag", "Type"]) != key
    assert header_key(["Tag", "Type", "Pow", "er"]) != header_key(["Tag", "Type", "Power"])
