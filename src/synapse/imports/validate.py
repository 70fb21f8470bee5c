"""Validation of asset rows: every problem of every row, with row, column, value and reason."""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass, field
from typing import Any

MAX_TAG = 100
MAX_TYPE = 100
MAX_VALUE = 10_000
SHOWN_VALUE = 200


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
    """Turns CSV records into (tag, type, properties JSON) or row errors.

    Keeps the tags seen so far, so a tag repeated within one file is an error on its later rows.
    """

    header: tuple[str, ...]
    seen: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._tag = self.header.index("tag")
        self._type = self.header.index("type")
        self._props = [
            (i, name) for i, name in enumerate(self.header) if name and name not in ("tag", "type")
        ]
        self._unnamed = [i for i, name in enumerate(self.header) if not name]
        self._width = len(self.header)

    def check(
        self, row: int, fields: list[str]
    ) -> tuple[tuple[str, str, str] | None, list[RowError]]:
        errors: list[RowError] = []
        if len(fields) > self._width and any(f.strip() for f in fields[self._width :]):
            errors.append(
                RowError(
                    row,
                    None,
                    None,
                    f"row has {len(fields)} fields but the header has {self._width}",
                )
            )
        get = fields.__getitem__ if len(fields) >= self._width else _padded(fields, self._width)
        tag = get(self._tag).strip()
        typ = get(self._type).strip()
        errors.extend(_check_text(row, "tag", tag, MAX_TAG))
        errors.extend(_check_text(row, "type", typ, MAX_TYPE))
        for i in self._unnamed:
            if get(i).strip():
                errors.append(
                    RowError(
                        row, f"column {i + 1}", _shown(get(i)), "value in a column with no name"
                    )
                )
        props: dict[str, str] = {}
        for i, name in self._props:
            value = get(i).strip()
            if not value:
                continue
            if len(value) > MAX_VALUE:
                errors.append(
                    RowError(row, name, _shown(value), f"longer than {MAX_VALUE} characters")
                )
            props[name] = value
        if tag and len(tag) <= MAX_TAG:
            first = self.seen.setdefault(tag, row)
            if first != row:
                errors.append(
                    RowError(row, "tag", tag, f"duplicate tag, first seen on row {first}")
                )
        if errors:
            return None, errors
        return (tag, typ, json.dumps(props, ensure_ascii=False, separators=(",", ":"))), []


def _padded(fields: list[str], width: int) -> Any:
    padded = fields + [""] * (width - len(fields))
    return padded.__getitem__


def _shown(value: str) -> str:
    return value if len(value) <= SHOWN_VALUE else value[:SHOWN_VALUE] + "…"


def _check_text(row: int, column: str, value: str, limit: int) -> list[RowError]:
    if not value:
        return [RowError(row, column, value, f"{column} is required")]
    if len(value) > limit:
        return [RowError(row, column, _shown(value), f"{column} is longer than {limit} characters")]
    if any(unicodedata.category(c) == "Cc" for c in value):
        return [RowError(row, column, value, f"{column} contains control characters or a newline")]
    return []
