"""A checked condition turned, once per rule, into nested Python closures.

`syntax.compile_condition` has already refused every node outside the language, so the tree
holds only: constants, names (the asset's fields), the operators of `values.OPERATORS`, `and`/
`or`, `x if c else y`, comparisons, lists/tuples and calls of the rule functions by name. Each
node becomes one small function of the asset's fields that calls the functions of its children;
an asset then costs a few Python calls instead of a walk over the tree with a dispatch per node
(simpleeval's way, kept as `language.Evaluator`, the reference the unit tests compare with).

Why nothing outside the language can be reached from here:
- no `eval`, `exec`, `compile` or code object is made from text: the closures are fixed
  functions of this module, chosen by the node's type from a table; an unknown node type is an
  error (the checker would have refused it first);
- a name only ever reads the asset's fields (a mapping of JSON values built by the engine);
  functions are looked up in `values.PURE_FUNCTIONS` and `has`/`get` when the rule compiles,
  never from the asset, so no value of a field can become something callable;
- operators come from `values.OPERATORS` by the operator node's type; there is no attribute
  access, indexing, comprehension or lambda node to compile (the checker refuses them).
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from typing import Any

from synapse.rules import values as v
from synapse.rules.values import OPERATORS, RuleTypeError, Value

Fields = Mapping[str, Value]
Node = Callable[[Fields], Value]


class MissingField(Exception):
    """A name the asset has no value for (the engine reports it as a missing property)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def compile_tree(tree: ast.expr) -> Node:
    """The closure of a checked condition's tree (see the module text)."""
    build = _BUILDERS.get(type(tree))
    if build is None:  # unreachable after the checker; refuse rather than guess
        raise RuleTypeError(f"{type(tree).__name__} is not part of the rule language")
    return build(tree)


def _constant(node: ast.Constant) -> Node:
    value = node.value
    return lambda _f: value


def _name(node: ast.Name) -> Node:
    return _reader(node.id)


def _unary(node: ast.UnaryOp) -> Node:
    op = OPERATORS[type(node.op)]
    operand = compile_tree(node.operand)
    if isinstance(node.op, ast.Not):  # `not` of a true/false answers at once

        def negation(fields: Fields) -> Value:
            value = operand(fields)
            if value is True:
                return False
            if value is False:
                return True
            return op(value)

        return negation
    return lambda f: op(operand(f))


def _binary(node: ast.BinOp) -> Node:
    op = OPERATORS[type(node.op)]
    left, right = compile_tree(node.left), compile_tree(node.right)
    return lambda f: op(left(f), right(f))


def _bool_op(node: ast.BoolOp) -> Node:
    want = isinstance(node.op, ast.Or)  # `or` stops at the first true, `and` at the first false
    what = "'or'" if want else "'and'"
    items = tuple(compile_tree(item) for item in node.values)
    truth = v.truth

    def run(fields: Fields) -> bool:
        for item in items:
            value = item(fields)
            if value is not True and value is not False:
                value = truth(value, what)
            if value is want:
                return want
        return not want

    return run


def _if_exp(node: ast.IfExp) -> Node:
    test, body, orelse = (compile_tree(n) for n in (node.test, node.body, node.orelse))
    truth = v.truth

    def run(fields: Fields) -> Value:
        value = test(fields)
        if value is not True and value is not False:
            value = truth(value, "'if'")
        return body(fields) if value else orelse(fields)

    return run


def _compare(node: ast.Compare) -> Node:
    ops = tuple(OPERATORS[type(op)] for op in node.ops)
    left = compile_tree(node.left)
    rights = tuple(compile_tree(c) for c in node.comparators)
    if len(ops) == 1:  # the usual single comparison (`a > b`), with no loop
        op, right = ops[0], rights[0]
        if isinstance(node.left, ast.Name) and isinstance(node.comparators[0], ast.Constant):
            return _field_vs_constant(
                node.left.id, type(node.ops[0]), node.comparators[0].value, op
            )
        return lambda f: bool(op(left(f), right(f)))
    pairs = tuple(zip(ops, rights, strict=True))

    def chain(fields: Fields) -> bool:
        current = left(fields)
        for compare, right_of in pairs:
            value = right_of(fields)
            if not compare(current, value):
                return False
            current = value
        return True

    return chain


_ORDER: dict[type, Callable[[Any, Any], Any]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_NUMBER_TYPES = (int, float)


def _reader(name: str) -> Node:
    def read(fields: Fields) -> Value:
        try:
            return fields[name]
        except KeyError:
            raise MissingField(name) from None

    return read


def _field_vs_constant(name: str, kind: type, constant: Value, op: Callable[..., Value]) -> Node:
    """`power_kw > 50`, `area == "A03"`, `type in ["Valve", "Pump"]`: the commonest shapes,
    with the common kinds of value answered here and every other case left to the operator
    itself (`values`), so the answers, and the errors, stay the operator's."""
    order = _ORDER.get(kind)
    if order is not None and type(constant) in _NUMBER_TYPES:
        return _ordered(name, order, constant, op)
    if kind is ast.Eq and type(constant) is str:
        return _same_text(name, constant, op)
    if kind in (ast.In, ast.NotIn) and type(constant) is tuple:
        if all(type(c) is str for c in constant):
            return _one_of(name, frozenset(constant), kind is ast.In, constant, op)
    read = _reader(name)
    return lambda f: bool(op(read(f), constant))


def _ordered(
    name: str, order: Callable[[Any, Any], Any], constant: Value, op: Callable[..., Value]
) -> Node:
    text_number = v.text_number

    def ordered(fields: Fields) -> bool:
        try:  # the field read inline: one call less on the commonest path
            value = fields[name]
        except KeyError:
            raise MissingField(name) from None
        kind_of = type(value)
        if kind_of is str:
            number = text_number(value)
            if number is not None:
                return bool(order(number, constant))
        elif kind_of is int or kind_of is float:
            return bool(order(value, constant))
        return bool(op(value, constant))  # the operator's own answer or error

    return ordered


def _same_text(name: str, constant: str, op: Callable[..., Value]) -> Node:
    def same_text(fields: Fields) -> bool:
        try:  # the field read inline: one call less on the commonest path
            value = fields[name]
        except KeyError:
            raise MissingField(name) from None
        if type(value) is str:
            return value == constant
        return bool(op(value, constant))

    return same_text


def _one_of(
    name: str, choices: frozenset[str], inside: bool, constant: Value, op: Callable[..., Value]
) -> Node:
    def one_of(fields: Fields) -> bool:
        try:  # the field read inline: one call less on the commonest path
            value = fields[name]
        except KeyError:
            raise MissingField(name) from None
        if type(value) is str:
            return (value in choices) is inside
        return bool(op(value, constant))

    return one_of


def _sequence(node: ast.List | ast.Tuple) -> Node:
    items = tuple(compile_tree(item) for item in node.elts)
    return lambda f: [item(f) for item in items]


def _call(node: ast.Call) -> Node:
    if not isinstance(node.func, ast.Name):  # the checker allows calls of rule functions only
        raise RuleTypeError("only the rule functions can be called")
    name = node.func.id
    args = tuple(compile_tree(a) for a in node.args)
    if name in ("has", "get"):
        return _asset_function(name, args, node.args[0])
    if name not in v.PURE_FUNCTIONS:  # unreachable after the checker
        raise RuleTypeError(f"unknown function {name!r}")
    function: Callable[..., Value] = v.PURE_FUNCTIONS[name][0]
    if len(args) == 1:
        only = args[0]
        return lambda f: function(only(f))
    if len(args) == 2:
        first, second = args
        if isinstance(node.args[1], ast.Constant):  # startswith(tag, "P-")
            constant = node.args[1].value
            return lambda f: function(first(f), constant)
        return lambda f: function(first(f), second(f))
    return lambda f: function(*[a(f) for a in args])


def _asset_function(name: str, args: tuple[Node, ...], first: ast.expr) -> Node:
    to_text = v.to_text
    key = args[0]
    if name == "has" and isinstance(first, ast.Constant) and isinstance(first.value, str):
        field = first.value  # has("vfd_model"): the name is known when the rule compiles

        def has_field(fields: Fields) -> bool:
            value = fields.get(field)
            return value is not None and value != ""

        return has_field
    if name == "has":

        def has(fields: Fields) -> bool:
            value = fields.get(to_text(key(fields)))
            return value is not None and value != ""

        return has
    default = args[1] if len(args) > 1 else None

    def get(fields: Fields) -> Value:
        # Both arguments are evaluated first, like every call (a missing default is an error).
        name, fallback = key(fields), default(fields) if default is not None else None
        value = fields.get(to_text(name))
        return fallback if value is None or value == "" else value

    return get


_BUILDERS: dict[type, Callable[[Any], Node]] = {
    ast.Constant: _constant,
    ast.Name: _name,
    ast.UnaryOp: _unary,
    ast.BinOp: _binary,
    ast.BoolOp: _bool_op,
    ast.IfExp: _if_exp,
    ast.Compare: _compare,
    ast.List: _sequence,
    ast.Tuple: _sequence,
    ast.Call: _call,
}
