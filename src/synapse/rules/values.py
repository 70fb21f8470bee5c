"""What values mean in a rule: kinds, numbers stored as text, operators and functions.

Imported CSV values are text, so an operator that meets text where it wants a number reads the
text as one (`"55" > 50` is true, `"7.5" * 2` is 15.0). Text stays text for text comparisons
(`part_no == "00123"` compares the text). A value of the wrong kind, like `"n/a" > 50`, raises
`RuleTypeError`, which becomes an `error` finding for that asset, never a crashed job.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

Value = Any  # str | int | float | bool | None | list of those

_NUMBER = re.compile(r"\s*[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\s*")
_INT = re.compile(r"\s*[+-]?[0-9]+\s*")
TRUE_WORDS = frozenset({"true", "yes"})
FALSE_WORDS = frozenset({"false", "no"})
_NUMERIC = (int, float)


class RuleTypeError(Exception):
    """A value of the wrong kind for an operator or function, on one asset."""


def kind(value: Value) -> str:
    """The name users see: text, number, boolean, null or list."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, _NUMERIC):
        return "number"
    if isinstance(value, str):
        return "text"
    if value is None:
        return "null"
    if isinstance(value, (list, tuple)):
        return "list"
    return type(value).__name__


def show(value: Value) -> str:
    """A value as a message quotes it: text in quotes, shortened."""
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:37] + "...")
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)


def _described(value: Value) -> str:
    return "null" if value is None else f"{kind(value)} {show(value)}"


@lru_cache(maxsize=8192)
def text_number(text: str) -> int | float | None:
    """`" 55 "` → 55, `"7.5"` → 7.5, `"1e3"` → 1000.0; anything else (`"n/a"`, `"1,5"`,
    `"nan"`, `"1_000"`) → None."""
    if len(text) > 100 or not _NUMBER.fullmatch(text):
        return None
    return int(text) if _INT.fullmatch(text) else float(text)


def as_number(value: Value, what: str) -> int | float:
    if type(value) in _NUMERIC:
        return value  # type: ignore[no-any-return]
    if isinstance(value, str):
        number = text_number(value)
        if number is not None:
            return number
    raise RuleTypeError(f"{what} needs a number, not {_described(value)}")


def truth(value: Value, what: str = "a condition") -> bool:
    """true/false; text "true"/"yes"/"false"/"no" (any case) counts too. Anything else is an
    error: `power_kw and ...` is a mistake, not a test for non-empty."""
    if value is True or value is False:
        return value
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    raise RuleTypeError(f"{what} needs true or false, not {_described(value)}")


# -- comparisons ---------------------------------------------------------------------------


def equal(a: Value, b: Value) -> bool:
    ta, tb = type(a), type(b)
    if ta is tb:
        return bool(a == b)
    if ta in _NUMERIC and tb in _NUMERIC:
        return bool(a == b)
    if ta is str and tb in _NUMERIC:
        return bool(text_number(a) == b)
    if tb is str and ta in _NUMERIC:
        return bool(text_number(b) == a)
    if (ta is bool and tb is str) or (tb is bool and ta is str):
        text, flag = (b, a) if ta is bool else (a, b)
        word = text.strip().lower()
        return (word in TRUE_WORDS and flag) or (word in FALSE_WORDS and not flag)
    if ta in (list, tuple) and tb in (list, tuple):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b, strict=True))
    return False


def not_equal(a: Value, b: Value) -> bool:
    return not equal(a, b)


def _ordered(a: Value, b: Value, symbol: str) -> tuple[Any, Any]:
    """The two sides as comparable values: numbers (text read as numbers) or two texts."""
    ta, tb = type(a), type(b)
    if ta is str and tb is str:
        na, nb = text_number(a), text_number(b)
        return (na, nb) if na is not None and nb is not None else (a, b)
    na = a if ta in _NUMERIC else text_number(a) if ta is str else None
    nb = b if tb in _NUMERIC else text_number(b) if tb is str else None
    if na is None or nb is None:
        raise RuleTypeError(f"cannot compare {_described(a)} {symbol} {_described(b)}")
    return na, nb


def less(a: Value, b: Value) -> bool:
    if type(a) in _NUMERIC and type(b) in _NUMERIC:
        return bool(a < b)
    x, y = _ordered(a, b, "<")
    return bool(x < y)


def less_equal(a: Value, b: Value) -> bool:
    if type(a) in _NUMERIC and type(b) in _NUMERIC:
        return bool(a <= b)
    x, y = _ordered(a, b, "<=")
    return bool(x <= y)


def greater(a: Value, b: Value) -> bool:
    if type(a) in _NUMERIC and type(b) in _NUMERIC:
        return bool(a > b)
    x, y = _ordered(a, b, ">")
    return bool(x > y)


def greater_equal(a: Value, b: Value) -> bool:
    if type(a) in _NUMERIC and type(b) in _NUMERIC:
        return bool(a >= b)
    x, y = _ordered(a, b, ">=")
    return bool(x >= y)


def contained(item: Value, container: Value) -> bool:
    """`x in [1, 2]` (with the equality above), `"VFD" in description` (text in text)."""
    if isinstance(container, (list, tuple)):
        return any(equal(item, element) for element in container)
    if isinstance(container, str) and isinstance(item, str):
        return item in container
    raise RuleTypeError(
        f"'in' needs a list, or text in text, not {_described(item)} in {_described(container)}"
    )


def not_contained(item: Value, container: Value) -> bool:
    return not contained(item, container)


# -- arithmetic ----------------------------------------------------------------------------


def add(a: Value, b: Value) -> Value:
    """Numbers add (text read as numbers); two texts that are not both numbers join."""
    if isinstance(a, str) and isinstance(b, str):
        na, nb = text_number(a), text_number(b)
        if na is None or nb is None:
            return a + b
        return na + nb
    return as_number(a, "'+'") + as_number(b, "'+'")


def _arith(symbol: str, fn: Callable[[Any, Any], Any]) -> Callable[[Value, Value], Value]:
    what = f"'{symbol}'"

    def apply(a: Value, b: Value) -> Value:
        return fn(as_number(a, what), as_number(b, what))

    apply.__name__ = f"op_{symbol}"
    return apply


subtract = _arith("-", lambda a, b: a - b)
multiply = _arith("*", lambda a, b: a * b)
divide = _arith("/", lambda a, b: a / b)
floor_divide = _arith("//", lambda a, b: a // b)
modulo = _arith("%", lambda a, b: a % b)


def negate(a: Value) -> Value:
    return -as_number(a, "'-'")


def plus(a: Value) -> Value:
    return +as_number(a, "'+'")


def logical_not(a: Value) -> bool:
    return not truth(a, "'not'")


# -- functions -----------------------------------------------------------------------------


def _text(value: Value, what: str) -> str:
    if isinstance(value, str):
        return value
    raise RuleTypeError(f"{what} needs text, not {_described(value)}")


def to_text(value: Value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return show(value)
    if isinstance(value, _NUMERIC):
        return str(value)
    raise RuleTypeError(f"text() needs one value, not {_described(value)}")


def length(value: Value) -> int:
    if isinstance(value, (str, list, tuple)):
        return len(value)
    raise RuleTypeError(f"len() needs text or a list, not {_described(value)}")


def _numbers(values: Sequence[Value], what: str) -> list[int | float]:
    return [as_number(v, what) for v in values]


def smallest(*values: Value) -> int | float:
    return min(_numbers(values, "min()"))


def largest(*values: Value) -> int | float:
    return max(_numbers(values, "max()"))


def rounded(value: Value, digits: Value = 0) -> int | float:
    places = as_number(digits, "round()")
    if not isinstance(places, int) or not -20 <= places <= 20:
        raise RuleTypeError("round() needs a whole number of digits between -20 and 20")
    result = round(as_number(value, "round()"), places)
    return int(result) if places <= 0 else result


# Functions that do not need the asset: name → (callable, fewest args, most args or None).
PURE_FUNCTIONS: dict[str, tuple[Callable[..., Value], int, int | None]] = {
    "number": (lambda v: as_number(v, "number()"), 1, 1),
    "text": (to_text, 1, 1),
    "lower": (lambda v: _text(v, "lower()").lower(), 1, 1),
    "upper": (lambda v: _text(v, "upper()").upper(), 1, 1),
    "trim": (lambda v: _text(v, "trim()").strip(), 1, 1),
    "len": (length, 1, 1),
    "abs": (lambda v: abs(as_number(v, "abs()")), 1, 1),
    "round": (rounded, 1, 2),
    "min": (smallest, 1, None),
    "max": (largest, 1, None),
    "startswith": (
        lambda s, p: _text(s, "startswith()").startswith(_text(p, "startswith()")),
        2,
        2,
    ),
    "endswith": (lambda s, p: _text(s, "endswith()").endswith(_text(p, "endswith()")), 2, 2),
}


# The operators of the language, by the `ast` node that stands for each.
OPERATORS: dict[type, Callable[..., Value]] = {
    ast.Eq: equal,
    ast.NotEq: not_equal,
    ast.Lt: less,
    ast.LtE: less_equal,
    ast.Gt: greater,
    ast.GtE: greater_equal,
    ast.In: contained,
    ast.NotIn: not_contained,
    ast.Add: add,
    ast.Sub: subtract,
    ast.Mult: multiply,
    ast.Div: divide,
    ast.FloorDiv: floor_divide,
    ast.Mod: modulo,
    ast.USub: negate,
    ast.UAdd: plus,
    ast.Not: logical_not,
}
