"""Column mapping for asset imports: which column is the tag, the type, and each property.

Engineers' files name their columns their own way ("Tag No.", "Equipment Type",
"Rated Power [kW]") and often put a title block above the header row. A mapping (the
file's header → ``"tag"``, ``"type"``, ``"prop:<name>"`` or ``None`` to ignore the column)
may name some columns; every other column follows the automatic rule:

* a tag synonym (``TAG_SYNONYMS``) → ``"tag"``, a type synonym (``TYPE_SYNONYMS``) →
  ``"type"``; matching ignores case, spaces, punctuation and units in brackets (the header
  text itself, synonyms and property names: `synapse.imports.headers`);
* any other named column → ``"prop:" + property_name(header)``;
* a blank header, or one with no letter or digit ("—"), names no column: its cells must be
  empty (``ColumnPlan.unnamed``).

When several columns claim the tag (or the type), an explicit mapping beats the exact word
("Tag"), which beats a synonym ("Tag No."); a synonym that loses becomes an ordinary property
("tag_no"), so a file with both "Tag" and "Tag No." imports as before. Any other tie is an
error naming the columns. Pure logic: no I/O, no database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from itertools import islice

from synapse.errors import InvalidInput
from synapse.imports.headers import (
    PROP_PREFIX,
    TAG,
    TARGETS_HELP,
    TYPE,
    and_list,
    auto_target,
    is_prop,
    listing,
    name_problem,
    normal,
    property_name,
    quoted,
    tag_examples,
    trim,
)

HEADER_SEARCH_ROWS = 20


class _Claim(IntEnum):
    """How strongly a column claims its target; the stronger claim wins tag and type."""

    AUTO = 0
    SYNONYM = 1
    EXACT = 2
    MAPPED = 3


@dataclass(frozen=True, kw_only=True)
class ColumnPlan:
    """Where each column of a file goes: tag, type, a property, or nowhere."""

    tag: int
    type: int
    # (column index, property name) in column order.
    props: tuple[tuple[int, str], ...]
    # Columns mapped to null, plus the unnamed ones.
    ignored: tuple[int, ...]
    # Columns without a header (blank, or no letter or digit): their cells must be empty.
    unnamed: tuple[int, ...]
    # Every header that names a column → its target: the complete mapping used.
    mapping: dict[str, str | None]
    # What automatic matching alone gives, to show next to `mapping`.
    auto: dict[str, str | None]
    # The headers as in the file, trimmed.
    header: tuple[str, ...]

    @property
    def property_names(self) -> tuple[str, ...]:
        return tuple(name for _, name in self.props)


def plan_columns(
    header: Sequence[str], mapping: Mapping[str, str | None] | None = None
) -> ColumnPlan:
    """The plan for a header row: `mapping` first, the automatic rule for the other columns.

    A mapping key names the columns whose trimmed header equals it, else those equal to it
    ignoring case and runs of whitespace. InvalidInput for a key that names no column, a bad
    target, a header repeated and not ignored, two columns with the same target, and no
    column for the tag or the type.
    """
    trimmed = tuple(trim(h) for h in header)
    mapped = _Mapping.of(mapping).apply(trimmed)
    auto, claims = _automatic(trimmed)
    targets = list(auto)
    for i, target in mapped.items():
        targets[i], claims[i] = target, _Claim.MAPPED
    _check_repeated_headers(trimmed, targets)
    conflicts = _settle(trimmed, targets, claims)
    if conflicts:
        raise InvalidInput(_conflict_message(trimmed, targets, conflicts[0]))
    _check_properties(trimmed, targets, mapped)
    _check_required(trimmed, targets)
    unnamed = tuple(i for i, h in enumerate(trimmed) if not h or (i not in mapped and not auto[i]))
    auto_settled = list(auto)
    _settle(trimmed, auto_settled, _automatic(trimmed)[1])
    return ColumnPlan(
        tag=targets.index(TAG),
        type=targets.index(TYPE),
        props=tuple((i, t.removeprefix(PROP_PREFIX)) for i, t in enumerate(targets) if is_prop(t)),
        ignored=tuple(i for i, t in enumerate(targets) if t is None),
        unnamed=unnamed,
        mapping={trimmed[i]: t for i, t in enumerate(targets) if i not in unnamed},
        auto={trimmed[i]: t for i, t in enumerate(auto_settled) if t is not None},
        header=trimmed,
    )


def find_header_row(
    rows: Sequence[tuple[int, list[str]]],
    mapping: Mapping[str, str | None] | None = None,
    *,
    header_row: int | None = None,
    within: int = HEADER_SEARCH_ROWS,
) -> int:
    """The index in `rows` of the header row, rows being (row number, cells), blanks skipped.

    With `header_row` (a 1-based row number) that row. Otherwise the first of the first
    `within` rows that has a tag column (by `mapping`, else automatically), preferring one
    that has a type column too, so a title block above the header is passed over.
    """
    if header_row is not None:
        return _given_row(rows, header_row)
    known = _Mapping.of(mapping)
    first_with_tag: int | None = None
    for index, (_, cells) in enumerate(islice(rows, max(within, 0))):
        found = {known.target(trim(cell)) for cell in cells}
        if TAG in found:
            if TYPE in found:
                return index
            if first_with_tag is None:
                first_with_tag = index
    if first_with_tag is not None:
        return first_with_tag
    if not rows:
        raise InvalidInput("the file is empty: it has no header row")
    looked = [f"{quoted(k)} (from the mapping)" for k, t in known.targets.items() if t == TAG]
    looked += tag_examples()
    raise InvalidInput(
        f"no header row found in the first {min(within, len(rows))} rows: none of them names "
        f"a tag column (looked for {', '.join(looked)}, …); give header_row or map a column "
        "to tag"
    )


# -- mapping ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Mapping:
    """A validated mapping: trimmed key → target, and the keys by normalised header."""

    targets: dict[str, str | None]
    by_normal: dict[str, list[str]]

    @classmethod
    def of(cls, mapping: Mapping[str, str | None] | None) -> _Mapping:
        targets: dict[str, str | None] = {}
        for raw_key, raw_target in (mapping or {}).items():
            key = trim(raw_key)
            if not key:
                raise InvalidInput(
                    "the mapping names a column with an empty header; a column without a "
                    "header cannot be mapped"
                )
            target = _checked_target(key, raw_target)
            if key in targets and targets[key] != target:
                raise InvalidInput(f"the mapping names the column {quoted(key)} twice")
            targets[key] = target
        by_normal: dict[str, list[str]] = {}
        for key in targets:
            by_normal.setdefault(normal(key), []).append(key)
        return cls(targets, by_normal)

    def keys_for(self, header: str) -> list[str]:
        """The keys naming a trimmed header: the exact one, else those equal when normalised."""
        if not header:
            return []
        if header in self.targets:
            return [header]
        keys = self.by_normal.get(normal(header), [])
        if len({self.targets[k] for k in keys}) > 1:
            raise InvalidInput(
                f"the mapping keys {and_list(keys)} all name the column {quoted(header)} "
                "but give it different targets"
            )
        return keys

    def target(self, header: str) -> str | None:
        """The target of a trimmed header: by the mapping if it names it, else automatic."""
        keys = self.keys_for(header)
        return self.targets[keys[0]] if keys else auto_target(header)

    def apply(self, header: tuple[str, ...]) -> dict[int, str | None]:
        """Column index → target of every column the mapping names."""
        mapped: dict[int, str | None] = {}
        used: set[str] = set()
        for i, h in enumerate(header):
            if keys := self.keys_for(h):
                mapped[i] = self.targets[keys[0]]
                used.update(keys)
        unused = [k for k in self.targets if k not in used]
        if unused:
            which = "columns" if len(unused) > 1 else "a column"
            raise InvalidInput(
                f"the mapping names {which} the file does not have: {and_list(unused)} "
                f"(the header has: {listing(header)})"
            )
        return mapped


def _checked_target(key: str, target: object) -> str | None:
    if target is None:
        return None
    if not isinstance(target, str):
        raise InvalidInput(f"the mapping for {quoted(key)} is {target!r}: {TARGETS_HELP}")
    if target in (TAG, TYPE):
        return target
    if not target.startswith(PROP_PREFIX):
        raise InvalidInput(f"the mapping for {quoted(key)} is {quoted(target)}: {TARGETS_HELP}")
    name = target.removeprefix(PROP_PREFIX).strip()
    problem = name_problem(name)
    if problem:
        raise InvalidInput(f"the mapping for {quoted(key)} is {quoted(target)}: {problem}")
    return PROP_PREFIX + name


# -- planning -----------------------------------------------------------------------------


def _automatic(header: tuple[str, ...]) -> tuple[list[str | None], list[_Claim]]:
    targets: list[str | None] = []
    claims: list[_Claim] = []
    for h in header:
        target = auto_target(h) if h else None
        targets.append(target)
        if target in (TAG, TYPE):
            claims.append(_Claim.EXACT if property_name(h) == target else _Claim.SYNONYM)
        else:
            claims.append(_Claim.AUTO)
    return targets, claims


def _settle(
    header: tuple[str, ...], targets: list[str | None], claims: list[_Claim]
) -> list[list[int]]:
    """Gives tag and type to their strongest claim; the columns still in conflict.

    A weaker synonym becomes a property; a weaker exact word or an equal claim is a conflict.
    """
    conflicts: list[list[int]] = []
    for target in (TAG, TYPE):
        claiming = [i for i, t in enumerate(targets) if t == target]
        if not claiming:
            continue
        strongest = max(claims[i] for i in claiming)
        kept = []
        for i in claiming:
            if claims[i] == _Claim.SYNONYM and strongest > _Claim.SYNONYM:
                targets[i], claims[i] = PROP_PREFIX + property_name(header[i]), _Claim.AUTO
            else:
                kept.append(i)
        if len(kept) > 1:
            conflicts.append(kept)
    return conflicts


def _check_repeated_headers(header: tuple[str, ...], targets: list[str | None]) -> None:
    seen: dict[str, int] = {}
    repeated: list[str] = []
    for h, target in zip(header, targets, strict=True):
        if target is None:
            continue
        name = normal(h)
        seen[name] = seen.get(name, 0) + 1
        if seen[name] == 2:
            repeated.append(name)
    if repeated:
        raise InvalidInput(
            f"duplicate column names in the header: {', '.join(sorted(repeated))} "
            "(map a repeated header to null to ignore its columns)"
        )


def _check_properties(
    header: tuple[str, ...], targets: list[str | None], mapped: dict[int, str | None]
) -> None:
    by_name: dict[str, list[int]] = {}
    for i, target in enumerate(targets):
        if is_prop(target):
            by_name.setdefault(target, []).append(i)
    for columns in by_name.values():
        if len(columns) > 1:
            raise InvalidInput(_conflict_message(header, targets, columns))
    for target, (i, *_) in by_name.items():
        name = target.removeprefix(PROP_PREFIX)
        problem = None if i in mapped else name_problem(name)
        if problem:
            raise InvalidInput(
                f"the column {quoted(header[i])} becomes the property {quoted(name)}: {problem}; "
                "map it to prop:<name> or to null"
            )


def _check_required(header: tuple[str, ...], targets: list[str | None]) -> None:
    missing = [t for t in (TAG, TYPE) if t not in targets]
    if not missing:
        return
    if len(missing) == 2:
        problem = "no columns for the asset tag and type: map one of the file's columns to tag "
        problem += "and one to type"
    else:
        problem = f"no column for the asset {missing[0]}: map one of the file's columns to "
        problem += missing[0]
    raise InvalidInput(f"{problem} (the header has: {listing(header)})")


def _conflict_message(
    header: tuple[str, ...], targets: list[str | None], columns: list[int]
) -> str:
    target = targets[columns[0]] or ""
    what = f"the property {quoted(target.removeprefix(PROP_PREFIX))}" if is_prop(target) else target
    both = "both" if len(columns) == 2 else "all"
    return (
        f"columns {and_list(header[i] for i in columns)} {both} map to {what}; keep one and map "
        "the others to something else or to null"
    )


def _given_row(rows: Sequence[tuple[int, list[str]]], header_row: int) -> int:
    if header_row < 1:
        raise InvalidInput(f"header_row is a row number from 1, not {header_row}")
    for index, (row_no, cells) in enumerate(rows):
        if row_no == header_row and any(trim(c) for c in cells):
            return index
    raise InvalidInput(f"row {header_row} is empty; the header row must name the columns")
