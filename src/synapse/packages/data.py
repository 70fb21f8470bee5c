"""Reading a project's assets for a package: streamed, in batches, from one consistent snapshot.

A package reads the assets several times (survey, workbook, PDF pages). All reads run in one
read transaction, so the workbook and the PDF show the same data even while an import runs:
REPEATABLE READ on PostgreSQL (with a server-side cursor), an explicit BEGIN on SQLite (WAL keeps
the snapshot of the first read until the end and blocks no writer).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, func, select

from synapse.config import Settings
from synapse.db.engine import get_engine
from synapse.db.models import Asset, Project

BATCH = 500
MAX_WIDTH = 60  # characters: the widest column a workbook gets


@dataclass(frozen=True, slots=True)
class AssetRow:
    tag: str
    type: str
    properties: dict[str, Any]

    def items(self) -> list[tuple[str, Any]]:
        """Properties in a stable order on every database (JSONB reorders keys)."""
        return sorted(self.properties.items(), key=lambda kv: (kv[0].casefold(), kv[0]))


def text_of(value: Any) -> str:
    """A property value as text: strings as they are, others as JSON (`true`, `55.0`)."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False)


class Snapshot:
    """Reads of one package, all in one read transaction (see `snapshot`)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._open: list[Any] = []

    def project(self, key: str) -> Any:
        """(id, name) of the project, or None."""
        return self.conn.execute(select(Project.id, Project.name).where(Project.key == key)).first()

    def count(self, project_id: int, asset_types: Sequence[str] = ()) -> int:
        query = select(func.count()).select_from(Asset).where(Asset.project_id == project_id)
        if asset_types:
            query = query.where(Asset.type.in_(list(asset_types)))
        return int(self.conn.scalar(query) or 0)

    def assets(self, project_id: int, asset_types: Sequence[str] = ()) -> Iterator[AssetRow]:
        """Every asset of the project (of `asset_types`, when given), by type and tag, in
        batches of BATCH rows (a server-side cursor on PostgreSQL)."""
        query = (
            select(Asset.tag, Asset.type, Asset.properties)
            .where(Asset.project_id == project_id)
            .order_by(Asset.type, Asset.tag, Asset.id)
        )
        if asset_types:
            query = query.where(Asset.type.in_(list(asset_types)))
        result = self.conn.execution_options(yield_per=BATCH).execute(query)
        self._open.append(result)
        try:
            for tag, typ, props in result:
                yield AssetRow(tag, typ, props if isinstance(props, dict) else {})
        finally:
            result.close()

    def close(self) -> None:
        """Close the cursors of reads that were left half way (a cancel stops mid-read)."""
        for result in self._open:
            result.close()
        self._open.clear()


@contextmanager
def snapshot(settings: Settings) -> Iterator[Snapshot]:
    """Reads that all see the database as it was at the first of them.

    The read transaction always ends here, also when the package stops half way: a pooled
    SQLite connection left inside an old snapshot would make its next writer fail at once
    with "database is locked".
    """
    engine = get_engine(settings)
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        snap = Snapshot(conn)
        conn.begin()
        try:
            if sqlite:
                conn.exec_driver_sql("BEGIN")  # pysqlite starts no transaction for reads
            yield snap
        finally:
            snap.close()
            conn.rollback()  # read only: nothing to keep
            raw = conn.connection.driver_connection
            if sqlite and raw is not None and raw.in_transaction:
                conn.invalidate()  # never hand a connection stuck in a snapshot to the pool


def _width(text: str) -> int:
    longest = max((len(line) for line in text.splitlines()), default=0)
    return min(longest, MAX_WIDTH)


@dataclass
class Survey:
    """What the first read learns: counts, property names and how wide their values are."""

    total: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    widths: dict[str, int] = field(default_factory=dict)  # property name → widest value
    keys_by_type: dict[str, set[str]] = field(default_factory=dict)
    property_rows: int = 0  # rows of the tag/property/value sheet
    tag_width: int = 3
    type_width: int = 4

    def add(self, asset: AssetRow) -> None:
        self.total += 1
        self.by_type[asset.type] = self.by_type.get(asset.type, 0) + 1
        keys = self.keys_by_type.setdefault(asset.type, set())
        self.tag_width = max(self.tag_width, min(len(asset.tag), MAX_WIDTH))
        self.type_width = max(self.type_width, min(len(asset.type), MAX_WIDTH))
        self.property_rows += max(1, len(asset.properties))
        for key, value in asset.properties.items():
            keys.add(key)
            width = _width(text_of(value))
            if width > self.widths.get(key, -1):
                self.widths[key] = width

    def columns(self, asset_type: str | None = None) -> list[str]:
        """Property names (of one type, or all), in the order `AssetRow.items` uses."""
        keys = self.widths.keys() if asset_type is None else self.keys_by_type[asset_type]
        return sorted(keys, key=lambda k: (k.casefold(), k))


@dataclass(frozen=True)
class Heading:
    """What every document of a package says about itself."""

    project_key: str
    project_name: str
    title: str
    revision: str
    date: str  # the package's date, in the system's time zone
    package_type: str
    asset_types: tuple[str, ...] = ()
