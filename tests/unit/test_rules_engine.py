"""Batch evaluation in memory, and the request shapes of rules."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from synapse.errors import InvalidInput
from synapse.rules.engine import AssetRow, BatchEngine, Template, compile_rules
from synapse.rules.schemas import RuleCreate, RuleUpdate
from synapse.validation import parse


def rule(rule_id: int, condition: str, action: dict[str, Any], applies_to: Any = ()) -> Any:
    return SimpleNamespace(
        id=rule_id,
        name=f"rule {rule_id}",
        applies_to=list(applies_to),
        condition=condition,
        action=action,
    )


def flag(message: str = "{tag}", severity: str = "warning") -> dict[str, Any]:
    return {"type": "flag", "severity": severity, "message": message}


ASSETS = [
    AssetRow(1, "M-1", "Motor", {"power_kw": "75"}),
    AssetRow(2, "M-2", "motor", {"power_kw": "11", "vfd": "ABB"}),
    AssetRow(3, "P-1", "Pump", {"power_kw": "n/a"}),
    AssetRow(4, "T-1", "Transmitter", {}),
]


def run(*rows: Any) -> Any:
    rules, broken = compile_rules(rows)
    assert not broken
    return BatchEngine(rules).run(ASSETS)


def test_flags_errors_and_counts() -> None:
    out = run(
        rule(1, "power_kw > 50", flag("{tag}: {power_kw} kW needs a VFD"), ["Motor", "Pump"]),
        rule(2, "not has('range_max')", flag("{tag} has no range", "error"), ["Transmitter"]),
    )
    assert out.findings == [
        (1, "M-1", "warning", "M-1: 75 kW needs a VFD"),
        (1, "P-1", "error", "cannot evaluate: cannot compare text 'n/a' > number 50"),
        (2, "T-1", "error", "T-1 has no range"),
    ]
    assert out.by_severity() == {"error": 2, "warning": 1, "info": 0}
    assert (out.assets, out.evaluations) == (4, 4)  # applies_to matches types in any case


def test_missing_property_is_an_error_finding_and_the_run_goes_on() -> None:
    out = run(rule(1, "power_kw > 50", flag(severity="info")))
    assert (1, "T-1", "error", "cannot evaluate: missing property 'power_kw'") in out.findings
    assert (1, "M-1", "info", "M-1") in out.findings
    assert out.evaluations == 4


def test_set_is_seen_by_later_rules_and_only_changes_are_written() -> None:
    asset = AssetRow(9, "M-9", "Motor", {"power_kw": "90", "size": "L"})
    rules, _ = compile_rules(
        [
            rule(1, "power_kw > 50", {"type": "set", "property": "requires_vfd", "value": True}),
            rule(2, "get('requires_vfd') == true", flag("{tag} needs a VFD: {requires_vfd}")),
            rule(3, "true", {"type": "set", "property": "size", "value": "L"}),  # unchanged
        ]
    )
    out = BatchEngine(rules).run([asset])
    assert out.patches == {9: {"requires_vfd": True}}
    assert out.findings == [(2, "M-9", "warning", "M-9 needs a VFD: true")]
    assert out.properties_set == 1
    assert asset.properties == {"power_kw": "90", "size": "L"}  # the input is not changed


def test_templates() -> None:
    fields = {"tag": "M-1", "power_kw": 7.5, "ok": False, "none": None}
    template = Template.parse("{tag}: {power_kw} kW, {ok}, { missing }, {none}, {{x}} {")
    assert template.render(fields) == "M-1: 7.5 kW, false, ?, ?, {x} {"


def test_a_stored_rule_that_no_longer_compiles_is_skipped_with_a_reason() -> None:
    rules, broken = compile_rules([rule(1, "x ** 2", flag()), rule(2, "true", flag())])
    assert [r.id for r in rules] == [2]
    assert "rule 'rule 1' skipped" in broken[0] and "'**'" in broken[0]


# -- shapes --------------------------------------------------------------------------------


def test_rule_create_shapes() -> None:
    body = {
        "name": "  Big   motors ",
        "applies_to": ["Motor", "Motor", "Pump"],
        "condition": "power_kw > 50",
        "action": {"type": "set", "property": " Requires VFD ", "value": True},
    }
    data = parse(RuleCreate, body, "rule")
    assert data.name == "Big motors" and data.applies_to == ["Motor", "Pump"]
    assert data.action.model_dump() == {"type": "set", "property": "requires vfd", "value": True}
    assert data.enabled is True
    for value in (1, 2.5, "x", False):
        action = {"type": "set", "property": "p", "value": value}
        parsed = parse(RuleCreate, body | {"action": action}, "rule").action
        assert parsed.model_dump()["value"] == value
        assert type(parsed.model_dump()["value"]) is type(value)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"name": " "}, "name: Value error, name must not be empty"),
        ({"action": {"type": "flag", "severity": "fatal", "message": "m"}}, "action.flag.severity"),
        ({"action": {"type": "bump"}}, "action: Input tag 'bump'"),
        ({"action": {"type": "set", "property": "tag", "value": 1}}, "the asset's own field"),
        ({"action": {"type": "set", "property": "p", "value": None}}, "action.set.value"),
        ({"action": {"type": "set", "property": "p", "value": [1]}}, "action.set.value"),
        ({"action": {"type": "set", "property": "p", "value": float("nan")}}, "finite number"),
        ({"colour": "red"}, "colour: unknown field"),
        ({"applies_to": "Motor"}, "applies_to: Input should be a valid list"),
    ],
)
def test_rule_create_refusals(change: dict[str, Any], words: str) -> None:
    body = {"name": "r", "condition": "true", "action": flag()} | change
    with pytest.raises(InvalidInput) as caught:
        parse(RuleCreate, body, "rule")
    assert str(caught.value).startswith("invalid rule: ")
    assert words.replace("Value error, ", "") in str(caught.value)


def test_rule_update_takes_any_subset() -> None:
    assert parse(RuleUpdate, {"enabled": False}, "rule update").model_dump(exclude_unset=True) == {
        "enabled": False
    }
    with pytest.raises(InvalidInput):
        parse(RuleUpdate, ["not", "an", "object"], "rule update")


def test_the_memo_gives_the_same_answers_as_evaluating_every_time() -> None:
    kinds = ("Motor", "Pump", "Valve")
    values: list[Any] = ["75", "75.0", "n/a", 75, 75.0, True, 1, "1", "yes", None, ""]
    assets = [
        AssetRow(i, f"A-{i}", kinds[i % 3], {"x": values[i % len(values)], "y": str(i % 4)})
        for i in range(3 * len(values) * 4)
    ]
    assets.append(AssetRow(999, "A-999", "Motor", {"y": "1"}))  # no x at all
    rules, _ = compile_rules(
        [
            rule(1, "x == 75", flag("{x}")),
            rule(2, "x == true", flag("{x}", "info")),
            rule(3, "x > 50 and y != '2'", {"type": "set", "property": "big", "value": True}),
            rule(4, "get('big') == true or has('x')", flag("{y}")),
            rule(5, "has(y)", flag("computed name")),  # not pure: never remembered
        ]
    )
    remembered = BatchEngine(rules, memo_min_nodes=0).run(assets)
    evaluated = BatchEngine(rules, memo=False).run(assets)
    assert remembered.findings == evaluated.findings
    assert remembered.patches == evaluated.patches
    engine = BatchEngine(rules, memo_min_nodes=0)
    engine.run(assets)
    assert set(engine.memos) == {1, 2, 3, 4} and engine.memos[1].hits > 0
    # By default only conditions big enough to cost more than a look-up are remembered.
    assert set(BatchEngine(rules).memos) == set()


def test_the_memo_gives_up_on_conditions_whose_values_do_not_repeat() -> None:
    rules, _ = compile_rules([rule(1, "startswith(tag, 'X')", flag())])
    engine = BatchEngine(rules, memo_min_nodes=0)
    engine.run([AssetRow(i, f"T-{i}", "Motor", {}) for i in range(2_500)])
    memo = engine.memos[1]
    assert not memo.active and memo.results == {} and memo.lookups == memo.TRIAL
    assert engine.outcome.evaluations == 2_500
