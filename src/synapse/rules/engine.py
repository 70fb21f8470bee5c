"""Batch evaluation: rules compiled once, assets streamed through them one at a time.

For each asset the enabled rules run in order (by id). A `flag` that holds adds a finding; a
`set` that holds changes the asset's field at once, so later rules see the derived value, and
records the change for the writer. A rule that cannot be evaluated on an asset (a missing
property, text where a number is needed) adds an `error` finding for that asset and the run
goes on.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from synapse.errors import InvalidInput
from synapse.rules.closures import Node, compile_tree
from synapse.rules.language import (
    FAILURES,
    Condition,
    EvaluationError,
    compile_condition,
    failure,
    truth_of,
)
from synapse.rules.schemas import SEVERITIES, FlagAction, SetAction
from synapse.rules.values import Value, show

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]{1,200})\}")
MISSING = "?"

FindingRow = tuple[int, str, str, str]  # rule id, asset tag, severity, message


class RuleRow(Protocol):
    """What the engine needs of a stored rule (the ORM `Rule` has it)."""

    id: int
    name: str
    applies_to: list[str]
    condition: str
    action: dict[str, Any]


@dataclass(frozen=True, slots=True)
class AssetRow:
    id: int
    tag: str
    type: str
    properties: dict[str, Value]


def _text_of(value: Value) -> str:
    if value is None:
        return MISSING
    return value if isinstance(value, str) else show(value)


@dataclass(frozen=True)
class Template:
    """A flag message with `{field}` placeholders, parsed once; `{{`/`}}` are braces."""

    parts: tuple[tuple[str, str | None], ...]  # (literal text, field name or None)

    @classmethod
    def parse(cls, text: str) -> Template:
        parts: list[tuple[str, str | None]] = []
        pos = 0
        for match in _PLACEHOLDER.finditer(text):
            literal = text[pos : match.start()]
            token = match.group(0)
            if token in ("{{", "}}"):
                parts.append((literal + token[0], None))
            else:
                parts.append((literal, match.group(1).strip()))
            pos = match.end()
        parts.append((text[pos:], None))
        return cls(tuple(parts))

    def render(self, fields: dict[str, Value]) -> str:
        return "".join(
            [
                literal if name is None else literal + _text_of(fields.get(name))
                for literal, name in self.parts
            ]
        )


@dataclass(frozen=True, slots=True)
class CompiledRule:
    id: int
    name: str
    types: frozenset[str]  # case-folded; empty: every type
    condition: Condition
    action: FlagAction | SetAction
    template: Template | None


def compile_rule(row: RuleRow) -> CompiledRule:
    """A stored rule made ready to run; InvalidInput if it no longer compiles."""
    kind = row.action.get("type")
    action: FlagAction | SetAction = (
        FlagAction.model_validate(row.action)
        if kind == "flag"
        else SetAction.model_validate(row.action)
    )
    return CompiledRule(
        id=row.id,
        name=row.name,
        types=frozenset(t.casefold() for t in row.applies_to),
        condition=compile_condition(row.condition),
        action=action,
        template=Template.parse(action.message) if isinstance(action, FlagAction) else None,
    )


def compile_rules(rows: Sequence[RuleRow]) -> tuple[list[CompiledRule], list[str]]:
    """The rules that compile, and a line for each one that does not."""
    rules, broken = [], []
    for row in rows:
        try:
            rules.append(compile_rule(row))
        except (InvalidInput, ValueError) as exc:
            broken.append(f"rule {row.name!r} skipped: {exc}")
    return rules, broken


def _same(current: Value, value: Value) -> bool:
    return type(current) is type(value) and current == value


@dataclass
class Outcome:
    """What a run found: findings, property changes by asset id, and counts."""

    findings: list[FindingRow] = field(default_factory=list)
    patches: dict[int, dict[str, Value]] = field(default_factory=dict)
    # asset id -> (tag, the values its `set`s replaced): the ledger's old values
    replaced: dict[int, tuple[str, dict[str, Value]]] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    assets: int = 0
    evaluations: int = 0

    def by_severity(self) -> dict[str, int]:
        return {s: self.counts[s] for s in SEVERITIES}

    @property
    def properties_set(self) -> int:
        return sum(len(p) for p in self.patches.values())


_MISSING: Any = object()


class Memo:
    """The answers of one pure condition, by the values of the fields it names.

    A condition is a pure function of those values, and asset data repeats (types, sizes,
    areas, voltages), so an asset whose values were seen before gets the answer without being
    evaluated again. A condition whose values hardly repeat (a tag, a description) is judged
    after TRIAL look-ups and from then on evaluated every time.
    """

    TRIAL = 2_000
    MIN_HIT_RATE = 0.1  # below this the look-ups cost more than they save
    MAX_ENTRIES = 50_000

    __slots__ = ("active", "hits", "lookups", "names", "results")

    def __init__(self, names: frozenset[str]) -> None:
        self.names = tuple(sorted(names))
        self.results: dict[Any, bool | str] = {}
        self.lookups = self.hits = 0
        self.active = True

    def key(self, fields: dict[str, Value]) -> Any:
        # The type belongs to the key: 1, 1.0 and true are equal in Python, not here.
        if len(self.names) == 1:  # the common case, without the tuples
            value = fields.get(self.names[0], _MISSING)
            return value, type(value)
        values = tuple([fields.get(name, _MISSING) for name in self.names])
        return values, tuple(map(type, values))

    def judge(self) -> None:
        if (self.lookups == self.TRIAL and self.hits < self.TRIAL * self.MIN_HIT_RATE) or len(
            self.results
        ) > self.MAX_ENTRIES:
            self.active = False
            self.results.clear()


def _decision(program: Node, fields: dict[str, Value]) -> bool | str:
    """True, false, or why the condition cannot be evaluated on this asset."""
    try:
        result = program(fields)
        if result is True or result is False:
            return result
        return truth_of(result)
    except EvaluationError as exc:
        return f"cannot evaluate: {exc}"
    except FAILURES as exc:
        return f"cannot evaluate: {failure(exc)}"


# One rule as the per-asset loop uses it, everything looked up once per run: the rule's id,
# its case-folded types, its closures, its memo, its `set` action (None for a flag), and a
# flag's severity and message template.
_Step = tuple[int, frozenset[str], Node, "Memo | None", SetAction | None, str, Callable[[Any], str]]


# A condition this small runs as fast as a look-up in its memo costs (measured with the rules
# of bench/rules_cases.py: the memo made them slower): only bigger ones are remembered.
MEMO_MIN_NODES = 16


def _size(condition: Condition) -> int:
    return sum(1 for _ in ast.walk(condition.tree))


class BatchEngine:
    """Evaluates compiled rules over assets; one per run.

    Each condition runs as the closures it compiled to (rules.closures); a pure condition's
    answers are remembered by the values it reads (`Memo`) while that pays."""

    def __init__(
        self,
        rules: Sequence[CompiledRule],
        *,
        memo: bool = True,
        memo_min_nodes: int = MEMO_MIN_NODES,
    ) -> None:
        self.rules = list(rules)
        self.outcome = Outcome()
        self.memos: dict[int, Memo] = {
            r.id: Memo(r.condition.fields)
            for r in self.rules
            if memo and r.condition.pure and _size(r.condition) >= memo_min_nodes
        }
        self._steps: list[_Step] = [
            (
                r.id,
                r.types,
                r.condition.program or compile_tree(r.condition.tree),
                self.memos.get(r.id),
                r.action if isinstance(r.action, SetAction) else None,
                r.action.severity if isinstance(r.action, FlagAction) else "",
                r.template.render if r.template is not None else str,
            )
            for r in self.rules
        ]

    @staticmethod
    def _remembered(memo: Memo, program: Node, fields: dict[str, Value]) -> bool | str:
        key = memo.key(fields)
        memo.lookups += 1
        try:
            found = memo.results.get(key, _MISSING)
        except TypeError:  # a value that cannot be a key (a list): just evaluate
            return _decision(program, fields)
        if found is not _MISSING:
            memo.hits += 1
            return found  # type: ignore[no-any-return]
        result = memo.results[key] = _decision(program, fields)
        memo.judge()
        return result

    def evaluate(self, asset: AssetRow) -> None:
        out = self.outcome
        findings, counts = out.findings, out.counts
        fields: dict[str, Value] = dict(asset.properties)
        tag = fields["tag"] = asset.tag
        fields["type"] = asset.type
        kind = asset.type.casefold()
        out.assets += 1
        evaluations = 0
        for rule_id, types, program, memo, action, severity, render in self._steps:
            if types and kind not in types:
                continue
            evaluations += 1
            if memo is not None and memo.active:
                decision = self._remembered(memo, program, fields)
            else:
                try:
                    decision = program(fields)
                    if decision is not True and decision is not False:
                        decision = truth_of(decision)
                except EvaluationError as exc:
                    decision = f"cannot evaluate: {exc}"
                except FAILURES as exc:
                    decision = f"cannot evaluate: {failure(exc)}"
            if decision is False:
                continue
            if decision is not True:
                findings.append((rule_id, tag, "error", str(decision)))
                counts["error"] += 1
            elif action is None:
                findings.append((rule_id, tag, severity, render(fields)))
                counts[severity] += 1
            elif not _same(fields.get(action.property), action.value):
                olds = out.replaced.setdefault(asset.id, (tag, {}))[1]
                olds.setdefault(action.property, fields.get(action.property))
                fields[action.property] = action.value
                out.patches.setdefault(asset.id, {})[action.property] = action.value
        out.evaluations += evaluations

    def run(self, assets: Iterable[AssetRow]) -> Outcome:
        for asset in assets:
            self.evaluate(asset)
        return self.outcome
