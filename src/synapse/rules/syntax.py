"""Compiling a condition: Python's `ast` parses it, a whitelist checks every node.

Anything the language does not have is refused with its line, column and problem, so a bad
expression is a 422 when the rule is saved, never a surprise when it runs.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

from synapse.errors import InvalidInput
from synapse.rules import values as v
from synapse.rules.closures import Node, compile_tree
from synapse.rules.values import OPERATORS

MAX_LENGTH = 2000
MAX_NODES = 400
CONSTANTS = {"true": True, "false": False, "null": None}
# has(name) and get(name[, default]) read the asset; the rest are pure.
ASSET_FUNCTIONS: dict[str, tuple[int, int]] = {"has": (1, 1), "get": (1, 2)}
FUNCTION_NAMES = tuple(sorted([*ASSET_FUNCTIONS, *v.PURE_FUNCTIONS]))

SYMBOLS = {ast.Pow: "**", ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^", ast.LShift: "<<",
           ast.RShift: ">>", ast.MatMult: "@", ast.Invert: "~", ast.Is: "is",
           ast.IsNot: "is not"}  # fmt: skip
_LEAVES = (ast.Load, ast.And, ast.Or, *OPERATORS)
_NAMED_NODES = {
    ast.Attribute: "attribute access",
    ast.Subscript: "indexing with [ ]",
    ast.Slice: "slicing",
    ast.Lambda: "lambda",
    ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a comprehension",
    ast.JoinedStr: "an f-string",
    ast.NamedExpr: "assignment (:=)",
    ast.Dict: "a dict",
    ast.Set: "a set",
    ast.Starred: "unpacking with *",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
}


class RuleSyntaxError(InvalidInput):
    """A condition that cannot be compiled; `details` has line, column and problem."""


@dataclass(frozen=True, eq=False)
class Condition:
    text: str
    tree: ast.expr
    fields: frozenset[str]  # the properties it names
    # Its value depends on those fields alone (no has()/get() of a computed name), so it can
    # be remembered for assets whose values of them are the same.
    pure: bool = True
    # The tree as nested closures (rules.closures), built once when the condition compiles.
    program: Node | None = dataclass_field(default=None, repr=False)


def _column(text: str, lineno: int, byte_offset: int) -> int:
    """1-based character column from ast's UTF-8 byte offset."""
    lines = text.splitlines() or [""]
    line = lines[min(max(lineno, 1), len(lines)) - 1]
    return len(line.encode()[:byte_offset].decode(errors="ignore")) + 1


def _refuse(text: str, problem: str, line: int, column: int, field: str) -> RuleSyntaxError:
    where = f"line {line}, column {column}" if "\n" in text else f"column {column}"
    return RuleSyntaxError(
        f"{field}: {problem} at {where}: {text if len(text) <= 200 else text[:197] + '...'}",
        details={"field": field, "line": line, "column": column, "problem": problem},
    )


def _at(text: str, node: ast.AST, problem: str, field: str) -> RuleSyntaxError:
    line = getattr(node, "lineno", 1)
    return _refuse(text, problem, line, _column(text, line, getattr(node, "col_offset", 0)), field)


def _syntax_problem(text: str, exc: SyntaxError) -> tuple[str, int, int]:
    line, column = exc.lineno or 1, exc.offset or 0
    lines = text.splitlines() or [""]
    source = lines[min(max(line, 1), len(lines)) - 1]
    problem = exc.msg or "invalid syntax"
    if column <= 0 or column > len(source):  # Python reports a cut-off expression at 0
        line, column = len(lines), len(lines[-1]) + 1
        problem = "the expression ends too early" + (
            " (put a condition that spans lines in parentheses)" if "\n" in text else ""
        )
    elif source[column - 1] == "=" and source[column - 1 : column + 1] != "==":
        problem = "'=' assigns; compare with '=='"
    elif problem == "invalid syntax":
        token = re.match(r"\w+|\S", source[column - 1 :])
        problem = f"unexpected {token.group(0) if token else source[column - 1]!r}"
    return problem, line, column


class _Checker(ast.NodeTransformer):
    """Refuses every node outside the language (whitelist: anything without a `visit_` method
    here is refused); turns true/false/null into constants; notes the properties named."""

    def __init__(self, text: str, field: str) -> None:
        self.text, self.field, self.count = text, field, 0
        self.fields: set[str] = set()
        self.pure = True

    def refuse(self, node: ast.AST, problem: str) -> RuleSyntaxError:
        return _at(self.text, node, problem, self.field)

    def refuse_operator(self, left: ast.expr, op: ast.AST, hint: str = "") -> RuleSyntaxError:
        """At the operator itself: the first occurrence of its symbol after the left side."""
        symbol = SYMBOLS.get(type(op), type(op).__name__)
        line = getattr(left, "end_lineno", None) or 1
        lines = self.text.splitlines()
        source = lines[line - 1] if line <= len(lines) else ""
        start = _column(self.text, line, getattr(left, "end_col_offset", None) or 0) - 1
        found = source.find(symbol.split()[0], start)
        column = (found if found >= 0 else start) + 1
        problem = f"operator {symbol!r} is not allowed{hint}"
        return _refuse(self.text, problem, line, column, self.field)

    def visit(self, node: ast.AST) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise self.refuse(node, f"the expression is too long (more than {MAX_NODES} parts)")
        if isinstance(node, _LEAVES):
            return node
        method = getattr(self, f"visit_{type(node).__name__}", None)
        if method is None:
            what = _NAMED_NODES.get(type(node), type(node).__name__)
            raise self.refuse(node, f"{what} is not allowed")
        return method(node)

    def visit_Attribute(self, node: ast.Attribute) -> Any:
        line = node.value.end_lineno or 1
        column = _column(self.text, line, node.value.end_col_offset or 0)
        problem = f"attribute access ('.{node.attr}') is not allowed"
        raise _refuse(self.text, problem, line, column, self.field)

    def _inner(self, node: ast.AST) -> Any:
        return self.generic_visit(node)

    visit_Expression = visit_BoolOp = visit_IfExp = _inner

    def visit_List(self, node: ast.List | ast.Tuple) -> Any:
        """A list of constants (`type in ["Valve", "Pump"]`) becomes one constant tuple, so it
        is not built again for every asset."""
        self.generic_visit(node)
        values = tuple(e.value for e in node.elts if isinstance(e, ast.Constant))
        if len(values) == len(node.elts):
            return ast.copy_location(ast.Constant(values), node)  # type: ignore[arg-type]
        return node

    visit_Tuple = visit_List

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        if type(node.op) not in OPERATORS:
            raise self.refuse_operator(node.left, node.op)
        return self.generic_visit(node)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> Any:
        if type(node.op) not in OPERATORS:
            raise self.refuse(node, f"operator {SYMBOLS.get(type(node.op), '?')!r} is not allowed")
        return self.generic_visit(node)

    def visit_Compare(self, node: ast.Compare) -> Any:
        left = node.left
        for op, right in zip(node.ops, node.comparators, strict=True):
            if type(op) not in OPERATORS:
                raise self.refuse_operator(left, op, "; use == or !=")
            left = right
        return self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> Any:
        if isinstance(node.value, (bytes, complex)) or node.value is Ellipsis:
            raise self.refuse(node, f"{type(node.value).__name__} values are not allowed")
        return node

    def visit_Name(self, node: ast.Name) -> Any:
        if node.id.startswith("__"):
            raise self.refuse(node, f"the name {node.id!r} is not allowed")
        if node.id in CONSTANTS:
            return ast.copy_location(ast.Constant(CONSTANTS[node.id]), node)
        if node.id in FUNCTION_NAMES:
            raise self.refuse(node, f"{node.id} is a function: call it as {node.id}(...)")
        self.fields.add(node.id)
        return node

    def visit_Call(self, node: ast.Call) -> Any:
        if not isinstance(node.func, ast.Name):
            raise self.refuse(node, "only the rule functions can be called")
        name = node.func.id
        if name not in FUNCTION_NAMES:
            raise self.refuse(
                node, f"unknown function {name!r}; the functions are {', '.join(FUNCTION_NAMES)}"
            )
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise self.refuse(node, f"{name}() takes plain arguments only")
        low, high = ASSET_FUNCTIONS.get(name) or v.PURE_FUNCTIONS[name][1:]
        if len(node.args) < low or (high is not None and len(node.args) > high):
            wanted = str(low) if low == high else f"{low} to {high}" if high else f"{low} or more"
            plural = "" if wanted == "1" else "s"
            raise self.refuse(
                node, f"{name}() takes {wanted} argument{plural}, not {len(node.args)}"
            )
        if name in ASSET_FUNCTIONS:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                self.fields.add(first.value)
            else:  # a computed name: the fields it reads are known only when it runs
                self.pure = False
        node.args = [self.visit(a) for a in node.args]
        return node


def compile_condition(text: str, field: str = "condition") -> Condition:
    """Parse and check a condition; `RuleSyntaxError` (422) names the position and problem."""
    text = text.strip()
    if not text:
        raise RuleSyntaxError(f"{field}: must not be empty", details={"field": field})
    if len(text) > MAX_LENGTH:
        raise RuleSyntaxError(
            f"{field}: must be at most {MAX_LENGTH} characters", details={"field": field}
        )
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        problem, line, column = _syntax_problem(text, exc)
        raise _refuse(text, problem, line, column, field) from None
    except (RecursionError, MemoryError, ValueError):
        raise _refuse(text, "the expression is nested too deeply", 1, 1, field) from None
    checker = _Checker(text, field)
    try:
        checked = checker.visit(tree)
    except RecursionError:
        raise _refuse(text, "the expression is nested too deeply", 1, 1, field) from None
    return Condition(
        text=text,
        tree=checked.body,
        fields=frozenset(checker.fields),
        pure=checker.pure,
        program=compile_tree(checked.body),
    )
