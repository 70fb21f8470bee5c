"""Bulk writing of validated rows: stage them, then merge into `assets` in one statement.

Rows go first to a temporary staging table (SQLite: `executemany` into a TEMP table, which takes
no lock on the main database; PostgreSQL: `COPY`), so a long import never holds the database's
write lock while it reads the file. The merge is one `INSERT … SELECT … ON CONFLICT` in one
short transaction: all rows or none.
"""

from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import Engine

from synapse.errors import InvalidInput

Row = tuple[int, str, str, str]  # spreadsheet row, tag, type, properties JSON

_SKIP = " ON CONFLICT (project_id, tag) DO NOTHING"
_UPSERT = (
    " ON CONFLICT (project_id, tag) DO UPDATE SET type = excluded.type,"
    " properties = excluded.properties, updated_at = excluded.updated_at"
)


class Stager(Protocol):
    def add(self, rows: list[Row]) -> None: ...

    def existing_tags(self) -> list[tuple[int, str]]: ...

    def staged_tags(self) -> list[str] | None: ...

    def count_existing(self) -> int: ...

    def merge(self, *, upsert: bool) -> int: ...

    def close(self) -> None: ...


def open_stager(engine: Engine, project_id: int) -> Stager:
    if engine.dialect.name == "sqlite":
        return SqliteStager(engine, project_id)
    if engine.dialect.name == "postgresql":
        return PostgresStager(engine, project_id)
    raise NotImplementedError(f"no bulk writer for {engine.dialect.name}")


def _driver(raw: Any) -> Any:
    """The DB-API connection under SQLAlchemy's pool wrapper."""
    return raw.driver_connection


def _table_name() -> str:
    return f"stage_{uuid.uuid4().hex[:16]}"


class _Staging:
    """What both databases share: the staging table and the look-ups against `assets`."""

    param = "?"  # the driver's placeholder

    def __init__(self, engine: Engine, project_id: int) -> None:
        self.project_id = project_id
        self.table = _table_name()
        self._raw = engine.raw_connection()
        self.conn: Any = _driver(self._raw)

    def _join(self, columns: str) -> str:
        return (
            f"SELECT {columns} FROM {self.table} s JOIN assets a"
            f" ON a.project_id = {self.param} AND a.tag = s.tag"
        )

    def existing_tags(self) -> list[tuple[int, str]]:
        cur = self.conn.execute(
            self._join("s.row_no, s.tag") + " ORDER BY s.row_no", (self.project_id,)
        )
        return [(int(r), str(t)) for r, t in cur.fetchall()]

    def count_existing(self) -> int:
        cur = self.conn.execute(self._join("count(*)"), (self.project_id,))
        return int(cur.fetchone()[0])

    def staged_tags(self) -> list[str] | None:
        """The tags this import writes (for the rules stage); call before `merge`."""
        return [str(t) for (t,) in self.conn.execute(f"SELECT tag FROM {self.table}").fetchall()]


class SqliteStager(_Staging):
    def __init__(self, engine: Engine, project_id: int) -> None:
        super().__init__(engine, project_id)
        self._isolation = self.conn.isolation_level
        self.conn.isolation_level = None  # we say BEGIN and COMMIT ourselves
        self.conn.execute(
            f"CREATE TEMP TABLE {self.table} (row_no INTEGER, tag TEXT, type TEXT, properties TEXT)"
        )

    def add(self, rows: list[Row]) -> None:
        self.conn.execute("BEGIN")
        self.conn.executemany(f"INSERT INTO {self.table} VALUES (?, ?, ?, ?)", rows)
        self.conn.execute("COMMIT")

    def merge(self, *, upsert: bool) -> int:
        """Upsert, or insert the new tags only; returns how many staged tags already existed."""
        now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            existing = self.count_existing()
            self.conn.execute(
                "INSERT INTO assets (project_id, tag, type, properties, created_at, updated_at)"
                f" SELECT ?, tag, type, properties, ?, ? FROM {self.table} WHERE true"
                + (_UPSERT if upsert else _SKIP),
                (self.project_id, now, now),
            )
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        return existing

    def close(self) -> None:
        try:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            self.conn.execute(f"DROP TABLE IF EXISTS temp.{self.table}")
        finally:
            self.conn.isolation_level = self._isolation
            self._raw.close()


# COPY's text format: backslash, tab, newline and carriage return are escaped.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


class PostgresStager(_Staging):
    """One transaction per import, holding a per-project advisory lock.

    Rows stream to the server through one COPY that stays open while Python reads and checks
    the rest of the file, so the server ingests on the other core meanwhile. Into a project that
    has no assets yet (a first import) they go straight into `assets`: nothing can conflict.
    Otherwise they go to a staging table and are merged with one upsert. Either way nothing is
    visible until the commit, and a failure rolls everything back.
    """

    param = "%s"
    LOCK_SPACE = 0x53594E  # "SYN": the advisory-lock namespace of imports

    def __init__(self, engine: Engine, project_id: int) -> None:
        super().__init__(engine, project_id)
        self.conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (self.LOCK_SPACE, project_id))
        found = self.conn.execute(
            "SELECT EXISTS (SELECT 1 FROM assets WHERE project_id = %s)", (project_id,)
        ).fetchone()
        self.direct = not found[0]
        now = datetime.now(UTC).isoformat()
        if self.direct:
            target = "assets (project_id, tag, type, properties, created_at, updated_at)"
            self._suffix = f"\t{now}\t{now}\n"
        else:
            self.conn.execute(
                f"CREATE TEMP TABLE {self.table}"
                " (row_no bigint, tag text, type text, properties jsonb) ON COMMIT DROP"
            )
            target = f"{self.table} (row_no, tag, type, properties)"
        self._cursor = self.conn.cursor()
        self._copy_cm: Any = self._cursor.copy(f"COPY {target} FROM STDIN")
        self._copy: Any = self._copy_cm.__enter__()

    def add(self, rows: list[Row]) -> None:
        esc = _COPY_ESCAPES
        if self.direct:
            pid, suffix = self.project_id, self._suffix
            data = "".join(
                f"{pid}\t{tag.translate(esc)}\t{kind.translate(esc)}\t{props.translate(esc)}{suffix}"
                for _row_no, tag, kind, props in rows
            )
        else:
            data = "".join(
                f"{row_no}\t{tag.translate(esc)}\t{kind.translate(esc)}\t{props.translate(esc)}\n"
                for row_no, tag, kind, props in rows
            )
        self._copy.write(data.encode())

    def _finish_copy(self) -> None:
        if self._copy_cm is not None:
            cm, self._copy_cm = self._copy_cm, None
            cm.__exit__(None, None, None)
            self._cursor.close()

    def existing_tags(self) -> list[tuple[int, str]]:
        self._finish_copy()
        return [] if self.direct else super().existing_tags()

    def count_existing(self) -> int:
        self._finish_copy()
        return 0 if self.direct else super().count_existing()

    def staged_tags(self) -> list[str] | None:
        """None for a first import: every asset of the project is one of this import's."""
        self._finish_copy()
        return None if self.direct else super().staged_tags()

    def merge(self, *, upsert: bool) -> int:
        self._finish_copy()
        if self.direct:
            self.conn.commit()
            return 0
        existing = self.count_existing()
        self.conn.execute(
            "INSERT INTO assets (project_id, tag, type, properties, created_at, updated_at)"
            f" SELECT %s, tag, type, properties, now(), now() FROM {self.table}"
            + (_UPSERT if upsert else _SKIP),
            (self.project_id,),
        )
        self.conn.commit()
        return existing

    def close(self) -> None:
        try:
            if self._copy_cm is not None:  # abandoned mid-stream: tell the server to drop it
                cm, self._copy_cm = self._copy_cm, None
                with contextlib.suppress(Exception):
                    cm.__exit__(InvalidInput, InvalidInput("import abandoned"), None)
            self.conn.rollback()
        finally:
            self._raw.close()
