"""The closures a condition compiles to agree with the tree walk (simpleeval) on everything:
thousands of generated expressions over assets with text numbers, missing fields and wrong
kinds give the same value, or the same error, both ways."""

from __future__ import annotations

import random
from typing import Any

import pytest

from synapse.rules.language import (
    EvaluationError,
    Evaluator,
    RuleSyntaxError,
    TreeEvaluator,
    compile_condition,
)
from synapse.rules.values import PURE_FUNCTIONS

ASSETS: list[dict[str, Any]] = [
    {"tag": "M-001", "type": "Motor", "power_kw": "55", "area": "A3", "rating": "7.5"},
    {"tag": "P-17", "type": "Pump", "power_kw": 7.5, "area": "", "rating": "n/a", "flag": True},
    {"tag": "V-2", "type": "Valve", "power_kw": "0", "size": 4, "rating": None},
    {"tag": "T-9", "type": "Transmitter", "range": "4-20 mA", "power_kw": -3, "flag": "yes"},
]
NAMES = ["power_kw", "area", "rating", "tag", "type", "size", "flag", "range", "nowhere"]
CONSTANTS = ['"55"', "50", "7.5", '"A3"', '"n/a"', "0", "true", "false", "null", '""', '"Motor"']
COMPARE = ["==", "!=", "<", "<=", ">", ">=", "in", "not in"]
ARITH = ["+", "-", "*", "/", "//", "%"]


def _expr(rng: random.Random, depth: int) -> str:
    if depth <= 0 or rng.random() < 0.25:
        return rng.choice(NAMES) if rng.random() < 0.55 else rng.choice(CONSTANTS)
    kind = rng.randrange(9)
    sub = depth - 1
    if kind == 0:
        return f"({_expr(rng, sub)} {rng.choice(COMPARE)} {_expr(rng, sub)})"
    if kind == 1:
        return f"({_expr(rng, sub)} {rng.choice(ARITH)} {_expr(rng, sub)})"
    if kind == 2:
        ops = rng.choice([" and ", " or "])
        return "(" + ops.join(_expr(rng, sub) for _ in range(rng.randint(2, 3))) + ")"
    if kind == 3:
        return f"({_expr(rng, sub)} if {_expr(rng, sub)} else {_expr(rng, sub)})"
    if kind == 4:
        return f"{rng.choice(['not ', '-', '+'])}{_expr(rng, sub)}"
    if kind == 5:
        name, (_fn, low, high) = rng.choice(sorted(PURE_FUNCTIONS.items()))
        count = rng.randint(low, high if high is not None else low + 2)
        return f"{name}({', '.join(_expr(rng, sub) for _ in range(count))})"
    if kind == 6:
        field = rng.choice(NAMES)
        if rng.random() < 0.5:
            return f'has("{field}")'
        return f'get("{field}", {_expr(rng, sub)})' if rng.random() < 0.5 else f'get("{field}")'
    if kind == 7:
        return f"[{', '.join(_expr(rng, sub) for _ in range(rng.randint(0, 3)))}]"
    return _chain(rng, sub)


def _chain(rng: random.Random, depth: int) -> str:
    ops = rng.sample(COMPARE[:6], 2)
    return f"({_expr(rng, depth)} {ops[0]} {_expr(rng, depth)} {ops[1]} {_expr(rng, depth)})"


def _outcome(evaluator: Any, condition: Any, fields: dict[str, Any]) -> tuple[str, Any]:
    try:
        result = evaluator.value(condition, fields)
    except EvaluationError as exc:
        return "error", str(exc)
    return "value", (type(result).__name__, repr(result))


def _test_outcome(evaluator: Any, condition: Any, fields: dict[str, Any]) -> tuple[str, Any]:
    try:
        return "value", evaluator.test(condition, fields)
    except EvaluationError as exc:
        return "error", str(exc)


@pytest.mark.parametrize("seed", range(6))
def test_closures_agree_with_the_tree_walk_on_generated_expressions(seed: int) -> None:
    rng = random.Random(seed)
    closures, tree = Evaluator(), TreeEvaluator()
    compared = errors = 0
    for i in range(600):
        text = _chain(rng, 2) if i % 7 == 0 else _expr(rng, 4)
        try:
            condition = compile_condition(text)
        except RuleSyntaxError:
            continue
        for fields in ASSETS:
            mine = _outcome(closures, condition, fields)
            assert mine == _outcome(tree, condition, fields), text
            assert _test_outcome(closures, condition, fields) == _test_outcome(
                tree, condition, fields
            ), text
            compared += 1
            errors += mine[0] == "error"
    # The generator reaches both outcomes often (a broken generator would compare nothing).
    assert compared > 1500
    assert 0.1 * compared < errors < 0.9 * compared


def test_closures_keep_the_left_to_right_order_and_short_circuits() -> None:
    fields = {"power_kw": "55"}
    closures = Evaluator()
    # `and` stops at the first false: the missing property on its right is never read.
    assert closures.test(compile_condition("power_kw > 100 and nowhere > 1"), fields) is False
    assert closures.test(compile_condition("power_kw > 1 or nowhere > 1"), fields) is True
    # Both arguments of get() are evaluated, as for every call.
    with pytest.raises(EvaluationError, match="missing property 'nowhere'"):
        closures.value(compile_condition('get("power_kw", nowhere)'), fields)
    assert closures.value(compile_condition('get("area", 3)'), fields) == 3
