"""Batch evaluation: rules compiled once, assets streamed through them one at a time.

For each asset the enabled rules run in order (by id). A `flag` that holds adds a finding; a
`set` that holds changes the asset's field at once, so later rules see the derived value, and
records the change for the writer. A rule that cannot be evaluated on an asset (a missing
property, text where a number is needed) adds an `error` finding for that asset and the run
goes on.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from synapse.errors import InvalidInput
from synapse.rules.language import Condition, EvaluationError, Evaluator, compile_condition
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
            literal if name is None else literal + _text_of(fields.get(name))
            for literal, name in self.parts
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


class BatchEngine:
    """Evaluates compiled rules over assets; one per run (it holds one simpleeval instance)."""

    def __init__(self, rules: Sequence[CompiledRule], *, memo: bool = True) -> None:
        self.rules = list(rules)
        self.evaluator = Evaluator()
        self.outcome = Outcome()
        self.memos: dict[int, Memo] = {
            r.id: Memo(r.condition.fields) for r in self.rules if memo and r.condition.pure
        }

    def _evaluate(self, rule: CompiledRule, fields: dict[str, Value]) -> bool | str:
        """True, false, or why the condition cannot be evaluated on this asset."""
        try:
            return self.evaluator.test(rule.condition, fields)
        except EvaluationError as exc:
            return f"cannot evaluate: {exc}"

    def _decide(self, rule: CompiledRule, fields: dict[str, Value]) -> bool | str:
        memo = self.memos.get(rule.id)
        if memo is None or not memo.active:
            return self._evaluate(rule, fields)
        key = memo.key(fields)
        memo.lookups += 1
        try:
            found = memo.results.get(key, _MISSING)
        except TypeError:  # a value that cannot be a key (a list): just evaluate
            return self._evaluate(rule, fields)
        if found is not _MISSING:
            memo.hits += 1
            return found  # type: ignore[no-any-return]
        result = memo.results[key] = self._evaluate(rule, fields)
        memo.judge()
        return result

    def evaluate(self, asset: AssetRow) -> None:
        out = self.outcome
        fields: dict[str, Value] = dict(asset.properties)
        fields["tag"], fields["type"] = asset.tag, asset.type
        kind = asset.type.casefold()
        out.assets += 1
        for rule in self.rules:
            if rule.types and kind not in rule.types:
                continue
            out.evaluations += 1
            decision = self._decide(rule, fields)
            if decision is False:
                continue
            if decision is not True:
                out.findings.append((rule.id, asset.tag, "error", str(decision)))
                out.counts["error"] += 1
                continue
            action = rule.action
            if isinstance(action, SetAction):
                if not _same(fields.get(action.property), action.value):
                    olds = out.replaced.setdefault(asset.id, (asset.tag, {}))[1]
                    olds.setdefault(action.property, fields.get(action.property))
                    fields[action.property] = action.value
                    out.patches.setdefault(asset.id, {})[action.property] = action.value
            else:
                assert rule.template is not None
                out.findings.append(
                    (rule.id, asset.tag, action.severity, rule.template.render(fields))
                )
                out.counts[action.severity] += 1

    def run(self, assets: Iterable[AssetRow]) -> Outcome:
        for asset in assets:
            self.evaluate(asset)
        return self.outcome
