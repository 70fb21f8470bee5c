"""The rule language: Python-like expressions, parsed by `ast`, checked, run as closures.

`compile_condition(text)` parses once and checks every node against a whitelist, so a bad
expression is refused when the rule is saved, with its line, column and problem; it then turns
the tree into nested closures (`closures`). `Evaluator` runs compiled conditions against one
asset's fields at a time, with our operators (numbers stored as text compare as numbers; see
`values`) and a few functions. `TreeEvaluator` walks the tree with simpleeval instead: the
reference the closures are tested against (tests/unit/test_rules_closures.py), and the
measure of what the closures gain (bench/rules_libraries.py).

Nothing here calls `eval` or `exec`: there is no attribute access (`().__class__`), no indexing,
no calls but the listed functions (`__import__` is refused), no lambdas, comprehensions or
f-strings, and no `**` (`9**9**9` would never finish).
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from operator import attrgetter

from simpleeval import InvalidExpression, NameNotDefined, SimpleEval

from synapse.rules import values as v
from synapse.rules.closures import MissingField, compile_tree
from synapse.rules.syntax import (
    FUNCTION_NAMES,
    MAX_LENGTH,
    Condition,
    RuleSyntaxError,
    compile_condition,
)
from synapse.rules.values import OPERATORS, RuleTypeError, Value

__all__ = [
    "FAILURES",
    "FUNCTION_NAMES",
    "MAX_LENGTH",
    "Condition",
    "EvaluationError",
    "Evaluator",
    "RuleSyntaxError",
    "TreeEvaluator",
    "compile_condition",
    "failure",
    "truth_of",
]


class EvaluationError(Exception):
    """A condition that could not be evaluated for one asset (missing property, wrong kind)."""


def failure(exc: Exception) -> EvaluationError:
    """Why a condition could not be evaluated on one asset, as the finding says it."""
    if isinstance(exc, (MissingField, NameNotDefined)):
        return EvaluationError(f"missing property {exc.name!r}")
    if isinstance(exc, ZeroDivisionError):
        return EvaluationError("division by zero")
    return EvaluationError(str(exc) or type(exc).__name__)


FAILURES = (
    MissingField,
    NameNotDefined,
    RuleTypeError,
    ZeroDivisionError,
    OverflowError,
    ValueError,
    TypeError,
    InvalidExpression,
)


def truth_of(result: Value) -> bool:
    if result is True or result is False:
        return result
    try:
        return v.truth(result, "the condition")
    except RuleTypeError as exc:
        raise EvaluationError(str(exc)) from None


class Evaluator:
    """Runs compiled conditions (their closures) on one asset's fields at a time."""

    def value(self, condition: Condition, fields: Mapping[str, Value]) -> Value:
        """The condition's value for one asset's fields; `EvaluationError` says why not."""
        program = condition.program
        try:
            if program is None:  # a Condition made by hand, not by compile_condition
                program = compile_tree(condition.tree)
            return program(fields)
        except FAILURES as exc:
            raise failure(exc) from None

    def test(self, condition: Condition, fields: Mapping[str, Value]) -> bool:
        """True or false for one asset; a condition whose value is not true/false is an error."""
        return truth_of(self.value(condition, fields))


class TreeEvaluator(SimpleEval):  # type: ignore[misc]
    """simpleeval with our operators, functions and the nodes of the language only.

    One instance evaluates many conditions against many assets, one asset at a time (not
    thread-safe; make one per run)."""

    nodes: dict[type, Callable[..., Value]]
    names: Mapping[str, Value]

    def __init__(self) -> None:
        functions: dict[str, Callable[..., Value]] = {
            name: spec[0] for name, spec in v.PURE_FUNCTIONS.items()
        }
        functions.update(has=self._has, get=self._get)
        super().__init__(operators=dict(OPERATORS), functions=functions, names={})
        keep = (ast.Name, ast.UnaryOp, ast.BinOp, ast.Call)
        nodes: dict[type, Callable[..., Value]] = {k: h for k, h in self.nodes.items() if k in keep}
        nodes.update(
            {
                ast.BoolOp: self._bool_op,
                ast.IfExp: self._if_exp,
                ast.List: self._sequence,
                ast.Tuple: self._sequence,
                ast.Compare: self._compare,
                # Constants were checked when the condition compiled (2,000 characters at most).
                ast.Constant: attrgetter("value"),
            }
        )
        self.nodes = nodes
        self._operators = self.operators

    def _has(self, name: Value) -> bool:
        value = self.names.get(v.to_text(name))
        return value is not None and value != ""

    def _get(self, name: Value, default: Value = None) -> Value:
        value = self.names.get(v.to_text(name))
        return default if value is None or value == "" else value

    def _bool_op(self, node: ast.BoolOp) -> bool:
        want = isinstance(node.op, ast.Or)  # `or` stops at the first true, `and` at the first false
        what = "'or'" if want else "'and'"
        for item in node.values:
            if v.truth(self._eval(item), what) is want:
                return want
        return not want

    def _if_exp(self, node: ast.IfExp) -> Value:
        test = v.truth(self._eval(node.test), "'if'")
        return self._eval(node.body if test else node.orelse)

    def _compare(self, node: ast.Compare) -> bool:
        """simpleeval's comparison, with the usual single comparison (`a > b`) done directly."""
        if len(node.ops) == 1:
            op = self._operators[type(node.ops[0])]
            return bool(op(self._eval(node.left), self._eval(node.comparators[0])))
        left = self._eval(node.left)
        for op_node, comparator in zip(node.ops, node.comparators, strict=True):
            right = self._eval(comparator)
            if not self._operators[type(op_node)](left, right):
                return False
            left = right
        return True

    def _sequence(self, node: ast.List | ast.Tuple) -> list[Value]:
        return [self._eval(item) for item in node.elts]

    def value(self, condition: Condition, fields: Mapping[str, Value]) -> Value:
        """The condition's value for one asset's fields; `EvaluationError` says why not."""
        self.names, self.expr = fields, condition.text
        try:  # the walk over the tree the checker already accepted (no parsing, no Python eval)
            return self._eval(condition.tree)
        except FAILURES as exc:
            raise failure(exc) from None

    def test(self, condition: Condition, fields: Mapping[str, Value]) -> bool:
        """True or false for one asset; a condition whose value is not true/false is an error."""
        return truth_of(self.value(condition, fields))
