"""Validation of asset rows: every problem of every row, with row, column, value and reason."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from synapse.imports.mapping import ColumnPlan

MAX_TAG = 100
MAX_TYPE = 100
MAX_VALUE = 10_000
SHOWN_VALUE = 200
# C0 and C1 control characters (Unicode category Cc), newlines included.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class RowError:
    row: int
    column: str | None
    value: str | None
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "value": self.value, "reason": self.reason}


@dataclass
class RowValidator:
    """Turns records into (tag, type, properties JSON) or row errors, by the column plan.

    Keeps the tags seen so far, so a tag repeated within one file is an error on its later rows.
    Empty cells are left out of the properties; ignored columns are not read.
    """

    plan: ColumnPlan
    seen: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._tag = self.plan.tag
        self._type = self.plan.type
        self._props = list(self.plan.props)
        self._unnamed = list(self.plan.unnamed)
        self._width = len(self.plan.header)

    def check(
        self, row: int, fields: list[str]
    ) -> tuple[tuple[str, str, str] | None, list[RowError]]:
        """(tag, type, properties JSON) of a valid row, or every error of an invalid one.

        This runs once per row of every import: the common case (a valid row) takes the
        shortest path, and the error details are built only when something is wrong.
        """
        width = self._width
        if len(fields) < width:
            fields = fields + [""] * (width - len(fields))
        tag = fields[self._tag].strip()
        typ = fields[self._type].strip()
        props = {name: value for i, name in self._props if (value := fields[i].strip())}
        both = tag + typ
        suspect = (
            len(fields) > width
            or not tag
            or not typ
            or len(tag) > MAX_TAG
            or len(typ) > MAX_TYPE
            # isprintable() is false for every control character (and for a few harmless ones,
            # which the regex then lets pass): one C call on the common path instead of two.
            or (not both.isprintable() and _CONTROL.search(both) is not None)
            or (self._unnamed and any(fields[i].strip() for i in self._unnamed))
            # No value is longer than the limit when the whole record is not.
            or (
                sum(map(len, fields)) > MAX_VALUE
                and max(map(len, props.values()), default=0) > MAX_VALUE
            )
        )
        errors = self._errors(row, fields, tag, typ, props) if suspect else []
        if tag and len(tag) <= MAX_TAG:
            first = self.seen.setdefault(tag, row)
            if first != row:
                errors.append(
                    RowError(row, "tag", tag, f"duplicate tag, first seen on row {first}")
                )
        if errors:
            return None, errors
        return (tag, typ, orjson.dumps(props).decode()), errors

    def _errors(
        self, row: int, fields: list[str], tag: str, typ: str, props: dict[str, str]
    ) -> list[RowError]:
        errors: list[RowError] = []
        width = self._width
        if len(fields) > width and any(f.strip() for f in fields[width:]):
            errors.append(
                RowError(
                    row, None, None, f"row has {len(fields)} fields but the header has {width}"
                )
            )
        errors.extend(_check_text(row, "tag", tag, MAX_TAG))
        errors.extend(_check_text(row, "type", typ, MAX_TYPE))
        for i in self._unnamed:
            if fields[i].strip():
                errors.append(
                    RowError(
                        row, f"column {i + 1}", _shown(fields[i]), "value in a column with no name"
                    )
                )
        for name, value in props.items():
            if len(value) > MAX_VALUE:
                errors.append(
                    RowError(row, name, _shown(value), f"longer than {MAX_VALUE} characters")
                )
        return errors


def _shown(value: str) -> str:
    return value if len(value) <= SHOWN_VALUE else value[:SHOWN_VALUE] + "…"


def _check_text(row: int, column: str, value: str, limit: int) -> list[RowError]:
    if not value:
        return [RowError(row, column, value, f"{column} is required")]
    if len(value) > limit:
        return [RowError(row, column, _shown(value), f"{column} is longer than {limit} characters")]
    if _CONTROL.search(value):
        return [RowError(row, column, value, f"{column} contains control characters or a newline")]
    return []
