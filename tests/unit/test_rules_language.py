"""The rule language adapter: kinds, numbers stored as text, missing fields, and refusals."""

from __future__ import annotations

import ast
from typing import Any

import pytest

from synapse.errors import InvalidInput
from synapse.rules.language import (
    MAX_LENGTH,
    Condition,
    EvaluationError,
    Evaluator,
    RuleSyntaxError,
    compile_condition,
)

MOTOR = {"tag": "M-001", "type": "Motor", "power_kw": "55", "area": "A3", "rating": "7.5"}


def value(text: str, fields: dict[str, Any] | None = None) -> Any:
    return Evaluator().value(compile_condition(text), MOTOR if fields is None else fields)


def holds(text: str, fields: dict[str, Any] | None = None) -> bool:
    return Evaluator().test(compile_condition(text), MOTOR if fields is None else fields)


def refused(text: str) -> RuleSyntaxError:
    with pytest.raises(RuleSyntaxError) as caught:
        compile_condition(text)
    assert isinstance(caught.value, InvalidInput)  # a 422 at the API
    return caught.value


def failure(text: str, fields: dict[str, Any] | None = None) -> str:
    with pytest.raises(EvaluationError) as caught:
        holds(text, fields)
    return str(caught.value)


# -- what a condition can say ---------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        'type == "Motor" and power_kw > 50',
        "type == 'Motor' and power_kw > 50",
        "power_kw >= 55 and power_kw <= 55.0",
        "power_kw == 55",
        "power_kw != 54",
        "50 < power_kw < 60",
        "power_kw + 5 == 60 and power_kw - 5 == 50 and power_kw * 2 == 110",
        "power_kw / 2 == 27.5 and power_kw // 2 == 27 and power_kw % 2 == 1",
        "-power_kw == -55 and +power_kw == 55",
        "rating * 2 == 15",
        'type in ["Motor", "Pump"] and area not in ("A1", "A2")',
        "power_kw in [50, 55]",
        '"Mot" in type',
        "not (type == 'Pump') or false",
        "true and not false and null == null",
        "(power_kw if power_kw > 50 else 0) == 55",
        'has("power_kw") and not has("vfd") and get("vfd", "none") == "none"',
        'lower(type) == "motor" and upper(area) == "A3" and trim("  x ") == "x"',
        "len(tag) == 5 and len([1, 2]) == 2",
        "number(power_kw) == 55 and text(55) == '55' and text(true) == 'true'",
        "abs(-3) == 3 and round(2.567, 2) == 2.57 and round(2.5) == 2",
        "min(power_kw, 60, rating) == 7.5 and max(power_kw, 60) == 60",
        'startswith(tag, "M-") and endswith(tag, "001")',
        "tag == 'M-001'  # a comment",
    ],
)
def test_true_conditions(text: str) -> None:
    assert holds(text) is True


@pytest.mark.parametrize(
    "text",
    ['type == "Pump"', "power_kw > 55", "power_kw < 10", "not has('power_kw')", "area == 'A1'"],
)
def test_false_conditions(text: str) -> None:
    assert holds(text) is False


def test_fields_named_are_listed() -> None:
    condition = compile_condition('type == "Motor" and power_kw > 50 and has("vfd model")')
    assert condition.fields == {"type", "power_kw", "vfd model"}
    assert compile_condition("  power_kw > 1  ").text == "power_kw > 1"


# -- numbers stored as text -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fields", "expected"),
    [
        ("x > 50", {"x": "55"}, True),
        ("x > 50", {"x": " 55 "}, True),
        ("x == 1000", {"x": "1e3"}, True),
        ("x == 7", {"x": "007"}, True),
        ("x < 0", {"x": "-0.5"}, True),
        ("x > 9", {"x": "10"}, True),  # as numbers: not "10" < "9" as text
        ("x > y", {"x": "100", "y": "50"}, True),  # two numbers as text compare as numbers
        ("x == y", {"x": "5", "y": "5"}, True),
        ('x == "00123"', {"x": "00123"}, True),  # text against text stays text
        ('x == "123"', {"x": "00123"}, False),
        ("x + y == 8", {"x": "5", "y": "3"}, True),
        ('x + y == "ab"', {"x": "a", "y": "b"}, True),
        ('x < "B2"', {"x": "A1"}, True),
        ("x == 55", {"x": "n/a"}, False),  # equality of different kinds is simply false
        ("x == true", {"x": "Yes"}, True),
        ("x == false", {"x": "FALSE"}, True),
        ("not x", {"x": "no"}, True),
        ("x", {"x": "true"}, True),
        ("x == 1", {"x": True}, False),  # booleans are not numbers
        ("x == 2.5", {"x": 2.5}, True),
    ],
)
def test_text_numbers_and_kinds(text: str, fields: dict[str, Any], expected: bool) -> None:
    assert holds(text, fields) is expected


@pytest.mark.parametrize("text", ["nan", "inf", "1_000", "1,5", "0x10", "١٢"])
def test_only_plain_decimal_text_is_a_number(text: str) -> None:
    assert failure("x > 1", {"x": text}).startswith("cannot compare text")


# -- what fails on one asset, as an error finding ------------------------------------------


def test_missing_property_is_an_evaluation_error() -> None:
    assert failure("power_kw > 50", {"tag": "P-1", "type": "Pump"}) == (
        "missing property 'power_kw'"
    )


@pytest.mark.parametrize(
    ("text", "fields", "words"),
    [
        ("x > 50", {"x": "n/a"}, "cannot compare text 'n/a' > number 50"),
        ("x > 50", {"x": True}, "cannot compare boolean true > number 50"),
        ("x * 2 > 1", {"x": "abc"}, "'*' needs a number, not text 'abc'"),
        ("x + 1 > 1", {"x": "abc"}, "'+' needs a number, not text 'abc'"),
        ("x / 0 > 1", {"x": "5"}, "division by zero"),
        ("x and true", {"x": "55"}, "'and' needs true or false, not text '55'"),
        ("x", {"x": "55"}, "the condition needs true or false, not text '55'"),
        ("x", {"x": None}, "the condition needs true or false, not null"),
        ("get('y') > 1", {"x": 1}, "cannot compare null > number 1"),
        ("lower(x) == 'a'", {"x": 5}, "lower() needs text, not number 5"),
        ("x in 5", {"x": 5}, "'in' needs a list"),
        ("round(x, 1.5) > 1", {"x": 5}, "round() needs a whole number"),
        ("len(x) > 1", {"x": 5}, "len() needs text or a list"),
    ],
)
def test_wrong_kinds_are_evaluation_errors(text: str, fields: dict[str, Any], words: str) -> None:
    assert words in failure(text, fields)


def test_empty_text_counts_as_missing_for_has_and_get() -> None:
    fields = {"x": "", "y": "0"}
    assert holds('not has("x") and has("y") and get("x", 3) == 3 and get("z") == null', fields)


# -- refusals: nothing escapes the language ------------------------------------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('__import__("os")', "unknown function '__import__'"),
        ('__import__("os").system("true")', "only the rule functions can be called"),
        ("().__class__", "attribute access ('.__class__') is not allowed"),
        ("().__class__.__bases__[0]", "indexing with [ ] is not allowed"),
        ("().__class__.__bases__", "attribute access ('.__bases__')"),
        ('"".join(["a"])', "only the rule functions can be called"),
        ("x.upper() == 'A'", "only the rule functions can be called"),
        ("tag.__len__", "attribute access"),
        ("__builtins__", "the name '__builtins__' is not allowed"),
        ('eval("1")', "unknown function 'eval'"),
        ('exec("x = 1")', "unknown function 'exec'"),
        ('open("/etc/passwd")', "unknown function 'open'"),
        ('getattr(tag, "upper")', "unknown function 'getattr'"),
        ("type(tag)", "unknown function 'type'"),
        ("x[0]", "indexing with [ ] is not allowed"),
        ("(lambda: 1)()", "only the rule functions can be called"),
        ("lambda: 1", "lambda is not allowed"),
        ("[c for c in tag]", "a comprehension is not allowed"),
        ("{c for c in tag}", "a comprehension is not allowed"),
        ("(c for c in tag)", "a comprehension is not allowed"),
        ('{"a": 1}', "a dict is not allowed"),
        ("{1, 2}", "a set is not allowed"),
        ('f"{tag}"', "an f-string is not allowed"),
        ("(x := 1)", "assignment (:=) is not allowed"),
        ("9 ** 9 ** 9", "operator '**' is not allowed"),
        ("x << 100", "operator '<<' is not allowed"),
        ("x & 1", "operator '&' is not allowed"),
        ("~x", "operator '~' is not allowed"),
        ("x is None", "operator 'is' is not allowed; use == or !="),
        ('b"x" == x', "bytes values are not allowed"),
        ("1j == x", "complex values are not allowed"),
        ("len", "len is a function: call it as len(...)"),
        ("has(name='x')", "has() takes plain arguments only"),
        ("max(*[1, 2])", "max() takes plain arguments only"),
        ("has()", "has() takes 1 argument, not 0"),
        ("round(1, 2, 3)", "round() takes 1 to 2 arguments, not 3"),
        ("x = 1", "'=' assigns; compare with '=='"),
        ("import os", "unexpected 'import'"),
    ],
)
def test_refused(text: str, words: str) -> None:
    error = refused(text)
    assert words in str(error)
    assert error.details["column"] >= 1


@pytest.mark.parametrize(
    ("text", "column", "problem"),
    [
        ("power_kw >", 11, "the expression ends too early"),
        ('type == "Motor" and', 20, "the expression ends too early"),
        ("power_kw >> > 3", 13, "unexpected '>'"),
        ("power_kw > 50)", 14, "unmatched ')'"),
        ("(power_kw > 50", 1, "'(' was never closed"),
        ("x == 'abc", 6, "unterminated string literal"),
        ("power_kw ** 2 > 1", 10, "operator '**' is not allowed"),
        ('"é" == x ** 2', 10, "operator '**' is not allowed"),  # characters, not UTF-8 bytes
        ("x == 1 and y.z", 13, "attribute access ('.z') is not allowed"),
        ("x == 1 and foo(1)", 12, "unknown function 'foo'"),
    ],
)
def test_refusals_name_the_position(text: str, column: int, problem: str) -> None:
    error = refused(text)
    assert error.details["line"] == 1
    assert error.details["column"] == column, error
    assert problem in error.details["problem"]
    assert f"column {column}" in str(error) and str(error).startswith("condition: ")


def test_multi_line_conditions_name_the_line() -> None:
    assert compile_condition("(power_kw > 50\n and area == 'A3')").fields == {"power_kw", "area"}
    error = refused("(power_kw > 50\n and area ** 2)")
    assert (error.details["line"], error.details["column"]) == (2, 11)
    assert "line 2, column 11" in str(error)
    assert "parentheses" in refused("power_kw > 50 and\n area == 'A3'").details["problem"]


@pytest.mark.parametrize(
    "text",
    ["", "   ", "x" * (MAX_LENGTH + 1), "(" * 300 + "x" + ")" * 300, " + ".join(["x"] * 500)],
)
def test_empty_huge_and_deep_expressions_are_refused_not_crashes(text: str) -> None:
    refused(text)


def test_the_evaluator_refuses_what_the_checker_would_have(monkeypatch: pytest.MonkeyPatch) -> None:
    """Defence in depth: even a tree that skipped the checker cannot reach attributes."""
    tree = ast.parse("().__class__", mode="eval").body
    sneaky = Condition(text="().__class__", tree=tree, fields=frozenset())
    with pytest.raises(EvaluationError):
        Evaluator().value(sneaky, MOTOR)
    call = ast.parse('__import__("os")', mode="eval").body
    with pytest.raises(EvaluationError):
        Evaluator().value(Condition(text="", tree=call, fields=frozenset()), MOTOR)
