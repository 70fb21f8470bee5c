"""The references an import is compared with: the raw floors (SQLite: stdlib csv + one
`executemany`; PostgreSQL: `psql \\copy`), the specification's pandas + ORM loop, and our
.xlsx reader's raw read."""

from __future__ import annotations

import csv
import datetime
import json
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from import_data import HEADER, project_id, reset
from synapse.config import Settings
from synapse.db.engine import session_scope
from synapse.imports.xlsx import open_workbook
from synapse.projects import ensure_project


def sqlite_file(settings: Settings) -> str:
    return settings.effective_database_url.removeprefix("sqlite:///")


def _sqlite(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
        conn.execute(f"PRAGMA {pragma}")  # as the product's engine
    return conn


def _json_rows(path: Path) -> Iterator[tuple[str, str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        names = next(reader)[2:]
        for r in reader:
            yield r[0], r[1], json.dumps(dict(zip(names, r[2:], strict=False)))


def raw_sqlite_assets(settings: Settings, path: Path) -> float:
    """SQLite's floor for these rows in this schema: stdlib csv, json.dumps of the properties
    and one `executemany` in one transaction into a copy of `assets` (same DDL: primary key,
    unique (project, tag), foreign key to `projects`) in the migrated database."""
    project = project_id(settings)
    reset()
    conn = _sqlite(sqlite_file(settings))
    ddl = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'assets'").fetchone()[0]
    conn.execute(ddl.replace("CREATE TABLE assets", "CREATE TABLE raw_assets", 1))
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    started = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO raw_assets (project_id, tag, type, properties, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        ((project, tag, kind, props, now, now) for tag, kind, props in _json_rows(path)),
    )
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def raw_sqlite_plain(folder: Path, path: Path) -> float:
    """The 2026-11-28 reference: the same into a table (tag, type, properties) with no key."""
    folder.mkdir(parents=True, exist_ok=True)
    conn = _sqlite(str(folder / "plain.db"))
    conn.execute("CREATE TABLE t (tag TEXT, type TEXT, properties TEXT)")
    started = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO t VALUES (?, ?, ?)", _json_rows(path))
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def _psql(url: str, command: str) -> None:
    plain = url.replace("postgresql+psycopg://", "postgresql://")
    subprocess.run(["psql", plain, "-qc", command], check=True)


def raw_postgres_text(url: str, path: Path) -> float:
    """PostgreSQL's floor for plain text: psql \\copy of the CSV into a table of text."""
    table = f"raw_{uuid.uuid4().hex[:8]}"
    _psql(url, f"CREATE TABLE {table} ({', '.join(f'{c} text' for c in HEADER)})")
    started = time.perf_counter()
    _psql(url, f"\\copy {table} FROM '{path}' WITH (FORMAT csv, HEADER)")
    elapsed = time.perf_counter() - started
    _psql(url, f"DROP TABLE {table}")
    return elapsed


def raw_postgres_assets(settings: Settings, url: str, path: Path) -> float:
    """The floor for these rows in this schema: psql \\copy of (project, tag, type, JSON) rows
    into a copy of `assets` with its keys, unique index, foreign key and jsonb column. The
    CSV-to-JSON conversion is done beforehand and not timed."""
    project = project_id(settings)
    table = f"raw_{uuid.uuid4().hex[:8]}"
    ready = path.with_suffix(".assets.csv")
    now = time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime())
    with ready.open("w", newline="") as out:
        rows = csv.writer(out)
        for tag, kind, props in _json_rows(path):
            rows.writerow([project, tag, kind, props, now, now])
    _psql(
        url,
        f"CREATE TABLE {table} (LIKE assets INCLUDING ALL, "
        "FOREIGN KEY (project_id) REFERENCES projects (id) ON DELETE CASCADE)",
    )
    started = time.perf_counter()
    _psql(
        url,
        f"\\copy {table} (project_id, tag, type, properties, created_at, updated_at)"
        f" FROM '{ready}' WITH (FORMAT csv)",
    )
    elapsed = time.perf_counter() - started
    _psql(url, f"DROP TABLE {table}")
    ready.unlink()
    return elapsed


def spec_loop(settings: Settings, path: Path) -> float:
    """The specification's import: pandas read_csv, iterrows, one ORM add per row, one commit."""
    import pandas as pd  # type: ignore[import-untyped]

    from synapse.db.models import Asset

    key = f"s-{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    with session_scope(settings) as db:
        project = ensure_project(db, key).id
        df = pd.read_csv(path)
        for _idx, row in df.iterrows():
            if not row.get("tag"):
                raise ValueError("missing tag")
        for _idx, row in df.iterrows():
            db.add(
                Asset(
                    project_id=project,
                    tag=row["tag"],
                    type=row["type"],
                    properties=json.loads(row.to_json()),
                )
            )
    return time.perf_counter() - started


def read_xlsx(path: Path) -> tuple[int, int]:
    """Our reader's raw read: every row of the sheet, every cell touched; (rows, characters)."""
    rows = chars = 0
    with open_workbook(path) as table:
        for _number, cells in table.rows():
            rows += 1
            for cell in cells:
                chars += len(cell)
    return rows, chars
