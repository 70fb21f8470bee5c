"""What changed since the previous revision of a package: a pure comparison of asset values.

A package's values are, per asset tag, what it prints: the asset type (field `type`, as in the
import ledger) and every property (field: the property's name). Comparing two of them gives one
`Change` per value that differs, one per asset added (field `(asset)`, new `added (<type>)`) and
one per asset removed (field `(asset)`, old its type, new `removed`), sorted by tag, then field.
`Differ` compares while the assets stream past (the package reads them once to plan
its pages); `diff` is the same over two whole mappings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from synapse.packages.data import AssetRow, text_of

ASSET = "(asset)"  # the field of a row that says an asset was added or removed
TYPE = "type"
Kind = Literal["changed", "added", "removed"]
Values = dict[str, Any]  # {"type": str, "properties": {name: JSON value}}


@dataclass(frozen=True, slots=True)
class Change:
    """One row of "Changes since revision A": `old`/`new` are the values as printed."""

    tag: str
    field: str
    old: str
    new: str
    kind: Kind = "changed"

    def row(self) -> list[str]:
        return [self.tag, self.field, self.old, self.new]


@dataclass(frozen=True)
class Changes:
    """The changes of one package against its previous revision (`since`, made by `job_id`)."""

    since: str
    job_id: str
    rows: tuple[Change, ...]

    @property
    def count(self) -> int:
        return len(self.rows)

    def counts(self) -> dict[str, int]:
        """Assets added and removed, values changed."""
        out = {"added": 0, "removed": 0, "changed": 0}
        for row in self.rows:
            out[row.kind] += 1
        return out

    def summary(self) -> dict[str, Any]:
        """What the job result says (`changes_since`)."""
        counts = self.counts()
        return {
            "revision": self.since,
            "job_id": self.job_id,
            "count": self.count,
            "values_changed": counts["changed"],
            "assets_added": counts["added"],
            "assets_removed": counts["removed"],
        }

    def describe(self) -> str:
        """ "3 changes: 2 values changed, 1 asset added" (the PDF's subtitle)."""
        counts = self.counts()
        parts = [
            _plural(counts["changed"], "value") + " changed" if counts["changed"] else "",
            _plural(counts["added"], "asset") + " added" if counts["added"] else "",
            _plural(counts["removed"], "asset") + " removed" if counts["removed"] else "",
        ]
        detail = ", ".join(p for p in parts if p)
        return _plural(self.count, "change") + (f": {detail}" if detail else "")


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def values_of(asset: AssetRow) -> Values:
    return {"type": asset.type, "properties": asset.properties}


def _same(old: Any, new: Any) -> bool:
    """Equal JSON values of the same kind (`1`, `1.0`, `true` and `"1"` all differ)."""
    return type(old) is type(new) and old == new


def _key(change: Change) -> tuple[str, str, str, str]:
    return (change.tag.casefold(), change.tag, change.field.casefold(), change.field)


def compare(tag: str, old: Values | None, new: Values | None) -> list[Change]:
    """The changes of one asset (unsorted): added, removed, or each value that differs."""
    if old is None:
        if new is None:
            return []
        return [Change(tag, ASSET, "", f"added ({text_of(new.get('type'))})", "added")]
    if new is None:
        return [Change(tag, ASSET, text_of(old.get("type")), "removed", "removed")]
    out = []
    if not _same(old.get("type"), new.get("type")):
        out.append(Change(tag, TYPE, text_of(old.get("type")), text_of(new.get("type"))))
    before: dict[str, Any] = old.get("properties") or {}
    after: dict[str, Any] = new.get("properties") or {}
    for name in before.keys() | after.keys():
        was, now = before.get(name), after.get(name)
        if name in before and name in after and _same(was, now):
            continue
        out.append(Change(tag, name, text_of(was), text_of(now)))
    return out


class Differ:
    """Compares a package's assets with the previous revision's values as they stream past.

    Each previous entry is dropped once its asset is seen: what is left at the end was removed.
    """

    def __init__(self, previous: Mapping[str, Values]) -> None:
        self.left = dict(previous)
        self.found: list[Change] = []

    def add(self, tag: str, values: Values) -> None:
        self.found.extend(compare(tag, self.left.pop(tag, None), values))

    def add_asset(self, asset: AssetRow) -> None:
        self.add(asset.tag, values_of(asset))

    def finish(self) -> list[Change]:
        for tag, values in self.left.items():
            self.found.extend(compare(tag, values, None))
        self.left = {}
        return sorted(self.found, key=_key)


def diff(old: Mapping[str, Values], new: Mapping[str, Values]) -> list[Change]:
    """Every change from `old` to `new` (tag → values), sorted by tag, then field."""
    differ = Differ(old)
    for tag, values in new.items():
        differ.add(tag, values)
    return differ.finish()


def printed(rows: Iterable[Change], limit: int) -> tuple[list[Change], int]:
    """The first `limit` rows to print, and how many are left out ("and N more")."""
    shown: list[Change] = []
    more = 0
    for row in rows:
        if len(shown) < limit:
            shown.append(row)
        else:
            more += 1
    return shown, more
