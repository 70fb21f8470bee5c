"""Staging of validated rows: a temporary table the import is compared with and applied from.

Rows go first to a temporary staging table (SQLite: `executemany` into a TEMP table, which takes
no lock on the main database; PostgreSQL: `COPY`), so a long import never holds the database's
write lock while it reads the file. `imports.apply` then compares the staged rows with the
project's assets, records the ledger and writes what changed, in one short transaction.
"""

from __future__ import annotations

import contextlib
import uuid
from typing import Any, Protocol

from sqlalchemy import Engine

from synapse.errors import InvalidInput

Row = tuple[int, str, str, str]  # spreadsheet row, tag, type, properties JSON


class Stager(Protocol):
    project_id: int
    staged: int
    table: str
    conn: Any
    dialect: str
    param: str

    def add(self, rows: list[Row]) -> None: ...

    def existing_tags(self) -> list[tuple[int, str]]: ...

    def begin(self) -> None: ...

    def commit(self) -> None: ...

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
        self.staged = 0  # rows added
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


class SqliteStager(_Staging):
    dialect = "sqlite"

    def __init__(self, engine: Engine, project_id: int) -> None:
        super().__init__(engine, project_id)
        self._isolation = self.conn.isolation_level
        self.conn.isolation_level = None  # we say BEGIN and COMMIT ourselves
        self.conn.execute(
            f"CREATE TEMP TABLE {self.table} (row_no INTEGER, tag TEXT, type TEXT, properties TEXT)"
        )

    def add(self, rows: list[Row]) -> None:
        self.staged += len(rows)
        self.conn.execute("BEGIN")
        self.conn.executemany(f"INSERT INTO {self.table} VALUES (?, ?, ?, ?)", rows)
        self.conn.execute("COMMIT")

    def begin(self) -> None:
        """The write transaction: it holds SQLite's one write lock until `commit`."""
        self.conn.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.conn.execute("COMMIT")

    def close(self) -> None:
        try:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            self.conn.execute(f"DROP TABLE IF EXISTS temp.{self.table}")
        finally:
            self.conn.isolation_level = self._isolation
            self._raw.close()


WORK_MEM = "64MB"  # for the import's own transaction on PostgreSQL

# COPY's text format: backslash, tab, newline and carriage return are escaped.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


class PostgresStager(_Staging):
    """One transaction per import, holding a per-project advisory lock.

    Rows stream to the server through one COPY into the staging table that stays open while
    Python reads and checks the rest of the file, so the server ingests on the other core
    meanwhile. Nothing is visible until the commit, and a failure rolls everything back.
    """

    param = "%s"
    dialect = "postgresql"
    LOCK_SPACE = 0x53594E  # "SYN": the advisory-lock namespace of imports (and their undos)

    def __init__(self, engine: Engine, project_id: int) -> None:
        super().__init__(engine, project_id)
        self.conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (self.LOCK_SPACE, project_id))
        # The comparison joins and groups every staged row: with the default 4 MB it spills
        # its hash join and sort to disk from about 100,000 rows (EXPLAIN ANALYZE).
        self.conn.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")
        self.conn.execute(
            f"CREATE TEMP TABLE {self.table}"
            " (row_no bigint, tag text, type text, properties jsonb) ON COMMIT DROP"
        )
        self._cursor = self.conn.cursor()
        self._copy_cm: Any = self._cursor.copy(
            f"COPY {self.table} (row_no, tag, type, properties) FROM STDIN"
        )
        self._copy: Any = self._copy_cm.__enter__()

    def add(self, rows: list[Row]) -> None:
        self.staged += len(rows)
        esc = _COPY_ESCAPES
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
        return super().existing_tags()

    def begin(self) -> None:
        """The transaction is open since the start (it holds the project's lock)."""
        self._finish_copy()
        self.conn.execute(f"ANALYZE {self.table}")

    def commit(self) -> None:
        self.conn.commit()

    def close(self) -> None:
        try:
            if self._copy_cm is not None:  # abandoned mid-stream: tell the server to drop it
                cm, self._copy_cm = self._copy_cm, None
                with contextlib.suppress(Exception):
                    cm.__exit__(InvalidInput, InvalidInput("import abandoned"), None)
            self.conn.rollback()
        finally:
            self._raw.close()
