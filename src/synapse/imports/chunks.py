"""Chunked ledger rows: many assets in one `asset_changes` row, as `[[row, tag], ...]`.

`unchanged` assets (of every import and preview) and the `created` assets of an applied import
are recorded CHUNK to a ledger row: `tag` is `''`, `row` the chunk's first row, `changes` the
pairs. An applied import groups them by `row // CHUNK`, so every pair of a chunk lies in that
bucket of rows (`imports.ledger` pages by it). A preview records its `created` assets one row
each with their values (`{"type", "properties"}`): the preview's table shows them, and a
preview writes no asset. Everything that reads the ledger goes through these helpers.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import ColumnElement, Text, and_, cast, func, literal_column
from sqlalchemy.sql.selectable import TableValuedAlias

from synapse.db.models import AssetChange

CHUNK = 1_000
CHUNKED = ("created", "unchanged")  # the actions whose rows may be chunks


def load_pairs(value: Any) -> list[tuple[int, str]]:
    """The `[[row, tag], ...]` of a chunk (JSON text or already parsed), sorted by row."""
    stored = orjson.loads(value) if isinstance(value, (str, bytes)) else value
    return sorted((int(r), str(t)) for r, t in stored or [])


def is_chunk() -> ColumnElement[bool]:
    """The SQL condition of a chunk row."""
    return and_(AssetChange.tag == "", AssetChange.action.in_(CHUNKED))


def length(dialect: str) -> Any:
    """How many assets a chunk row stands for (SQL)."""
    fn = func.jsonb_array_length if dialect == "postgresql" else func.json_array_length
    return fn(AssetChange.changes)


def elements(dialect: str) -> tuple[TableValuedAlias, Any]:
    """The pairs of the chunk rows in the FROM clause (a table-valued function per row of
    `asset_changes`) and the SQL of one pair's tag."""
    if dialect == "postgresql":
        pairs = func.jsonb_array_elements(AssetChange.changes).table_valued("value")
        return pairs, pairs.c.value.op("->>")(literal_column("1"))
    pairs = func.json_each(AssetChange.changes).table_valued("value")
    return pairs, func.json_extract(pairs.c.value, "$[1]")


def contains_text(dialect: str, tag: str) -> ColumnElement[bool]:
    """A cheap pre-filter of chunks that may hold `tag` (its JSON string in the JSON text);
    the caller confirms with `load_pairs`."""
    needle = orjson.dumps(tag).decode()
    text = cast(AssetChange.changes, Text)
    if dialect == "postgresql":
        return func.strpos(text, needle) > 0
    return func.instr(text, needle) > 0
