"""Pieces of the import benchmark: the data, the databases, the measured runs and references."""

from __future__ import annotations

import csv
import os
import random
import re
import shutil
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path

import orjson
import psycopg
from psycopg import sql
from sqlalchemy import make_url, text
from sqlalchemy.orm import Session

from synapse.config import Settings
from synapse.db.engine import dispose_engines, get_engine
from synapse.db.migrate import upgrade
from synapse.db.models import Asset
from synapse.imports.service import ImportRequest, run_import
from synapse.projects import ensure_project

KINDS = (  # type, tag prefix
    ("Motor", "M"),
    ("Pump", "P"),
    ("Transmitter", "FT"),
    ("Transmitter", "PT"),
    ("Valve", "XV"),
    ("Heat Exchanger", "E"),
    ("Compressor", "K"),
    ("Analyzer", "AT"),
)
MAKERS = ("ABB", "Siemens", "Emerson", "Yokogawa", "Flowserve", "Grundfos", "Ölwerk GmbH")
HEADER = (
    "tag",
    "type",
    "power_kw",
    "voltage",
    "area",
    "manufacturer",
    "model",
    "service",
    "description",
)
_NAME = re.compile(r"^[a-z0-9_]+$")


def generate(path: Path, rows: int, seed: int = 7) -> None:
    """`rows` unique assets: 7 property columns, empty cells, quoted commas, non-ASCII text."""
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(HEADER)
        for i in range(rows):
            kind, prefix = KINDS[i % len(KINDS)]
            powered = kind in ("Motor", "Pump", "Compressor")
            out.writerow(
                [
                    f"{prefix}-{10001 + i}",
                    kind,
                    f"{rng.uniform(0.5, 250):.1f}" if powered else "",
                    rng.choice(("400", "690", "6600")) if powered else "24",
                    f"A{rng.randint(1, 40):02d}",
                    rng.choice(MAKERS),
                    f"{prefix}{rng.randint(100, 999)}",
                    f"Cooling water loop {i % 50}",
                    f"{kind} for unit {i % 97}, line {i % 13} (±0.5 %)"
                    if i % 4 == 0
                    else f"{kind} {i}",
                ]
            )


class Quiet:
    """Progress sink: the benchmark measures the import, not the event stream."""

    def update_progress(
        self, current: int, total: int, message: str, *, percent: int | None = None
    ) -> None:
        pass

    def log(self, level: str, message: str) -> None:
        pass


def settings_for(data_dir: Path, database_url: str | None) -> Settings:
    url = database_url or f"sqlite:///{data_dir / 'synapse.db'}"
    return Settings(_env_file=None, data_dir=data_dir, database_url=url)  # type: ignore[call-arg]


# -- databases --------------------------------------------------------------------------------


def pg_env(url: str) -> dict[str, str]:
    """libpq's PG* variables for `url` (no password on a command line)."""
    u = make_url(url)
    env = dict(
        os.environ,
        PGHOST=u.host or "127.0.0.1",
        PGPORT=str(u.port or 5432),
        PGUSER=u.username or "postgres",
        PGDATABASE=u.database or "postgres",
    )
    if u.password:
        env["PGPASSWORD"] = u.password
    return env


def pg_conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def create_scratch_db(admin_url: str) -> str | None:
    """A new database `synapse_bench_<random>`; its URL, or None when PostgreSQL is not there."""
    name = f"synapse_bench_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(pg_conninfo(admin_url), autocommit=True, connect_timeout=3) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except (psycopg.Error, ValueError):
        return None
    return make_url(admin_url).set(drivername="postgresql", database=name).render_as_string(False)


def drop_scratch_db(admin_url: str, url: str) -> None:
    dispose_engines()
    name = make_url(url).database or ""
    with psycopg.connect(pg_conninfo(admin_url), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def server_version(url: str) -> str:
    with psycopg.connect(pg_conninfo(url)) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]).split()[0] if row else "?"


@contextmanager
def fresh_database(work: Path, pg_url: str | None) -> Iterator[Settings]:
    """An empty, migrated database: a new SQLite file, or the scratch PostgreSQL one emptied."""
    folder = work / f"db-{uuid.uuid4().hex[:8]}"
    settings = settings_for(folder, pg_url)
    upgrade(settings)
    if pg_url:
        with get_engine(settings).begin() as conn:
            conn.execute(text("TRUNCATE projects RESTART IDENTITY CASCADE"))
    try:
        yield settings
    finally:
        dispose_engines()
        shutil.rmtree(folder, ignore_errors=True)


# -- the measured runs --------------------------------------------------------------------------


def ours(settings: Settings, path: Path) -> float:
    """Seconds for the product's import: sniff, validate every row, stage, merge."""
    request = ImportRequest(project_key=f"ours-{uuid.uuid4().hex[:8]}", path=path, mode="upsert")
    started = time.perf_counter()
    result = run_import(settings, request, Quiet())
    elapsed = time.perf_counter() - started
    if result["created_count"] != result["total_rows"] or result["error_count"]:
        raise RuntimeError(f"import did not create every row: {result['summary']}")
    return elapsed


def spec_loop(settings: Settings, path: Path) -> float:
    """The specification's import: read_csv, iterrows, one ORM add per row, one commit.

    `dtype=str, keep_default_na=False`: with the bare `read_csv` the numbers arrive as numpy
    int64 (not JSON-serialisable) and empty cells as NaN (not valid JSON); as strings they are
    stored like the product stores them.
    """
    import pandas as pd

    started = time.perf_counter()
    with Session(get_engine(settings)) as db:
        project_id = ensure_project(db, f"spec-{uuid.uuid4().hex[:8]}").id
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
        for _idx, row in df.iterrows():
            db.add(
                Asset(
                    project_id=project_id,
                    tag=row["tag"],
                    type=row["type"],
                    properties=row.to_dict(),
                )
            )
        db.commit()
    return time.perf_counter() - started


def raw_sqlite(work: Path, path: Path) -> float:
    """SQLite's floor: stdlib csv, orjson for the properties, one executemany, one transaction,
    into a plain table (tag, type, properties) with no key or index; WAL + synchronous=NORMAL
    like the product's connections."""
    db = work / f"raw-{uuid.uuid4().hex[:8]}.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE raw_assets (tag TEXT, type TEXT, properties TEXT)")
    started = time.perf_counter()
    with path.open(newline="", encoding="utf-8") as fh:
        records = csv.reader(fh)
        names = next(records)[2:]
        rows = (
            (r[0], r[1], orjson.dumps(dict(zip(names, r[2:], strict=True))).decode())
            for r in records
        )
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO raw_assets (tag, type, properties) VALUES (?, ?, ?)", rows)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    for leftover in work.glob(f"{db.name}*"):
        leftover.unlink()
    return elapsed


def psql(url: str, command: str) -> float:
    """Seconds of one `psql -c` (start-up and connection included)."""
    argv = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", command]
    started = time.perf_counter()
    subprocess.run(argv, env=pg_env(url), check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def _copy_source(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def raw_psql_text(url: str, path: Path) -> float:
    """PostgreSQL's floor: `psql \\copy` of the CSV as it is into a table of 9 text columns."""
    table = f"raw_{uuid.uuid4().hex[:8]}"
    columns = ", ".join(f"{c} text" for c in HEADER if _NAME.match(c))
    psql(url, f"CREATE TABLE {table} ({columns})")
    try:
        return psql(url, f"\\copy {table} FROM {_copy_source(path)} WITH (FORMAT csv, HEADER)")
    finally:
        psql(url, f"DROP TABLE {table}")


def raw_psql_assets(url: str, path: Path) -> float:
    """`psql \\copy` of the same rows into a copy of `assets` (jsonb, primary key, unique
    (project, tag) index, foreign key): the server's own cost of these rows in this schema.
    The CSV is turned into those columns beforehand, untimed."""
    table = f"raw_{uuid.uuid4().hex[:8]}"
    ready = path.with_suffix(".assets.csv")
    with psycopg.connect(pg_conninfo(url), autocommit=True) as conn:
        row = conn.execute(
            "INSERT INTO projects (key, name, created_at) VALUES (%s, %s, now()) RETURNING id",
            (table, table),
        ).fetchone()
    project_id = row[0] if row else 0
    now = time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime())
    with path.open(newline="", encoding="utf-8") as src, ready.open("w", newline="") as dst:
        records, out = csv.reader(src), csv.writer(dst)
        names = next(records)[2:]
        for r in records:
            props = {k: v for k, v in zip(names, r[2:], strict=True) if v}
            out.writerow([project_id, r[0], r[1], orjson.dumps(props).decode(), now, now])
    psql(
        url,
        f"CREATE TABLE {table} (LIKE assets INCLUDING ALL, "
        "FOREIGN KEY (project_id) REFERENCES projects (id) ON DELETE CASCADE)",
    )
    try:
        return psql(
            url,
            f"\\copy {table} (project_id, tag, type, properties, created_at, "
            f"updated_at) FROM {_copy_source(ready)} WITH (FORMAT csv)",
        )
    finally:
        psql(url, f"DROP TABLE {table}")
        ready.unlink()


# -- peak memory --------------------------------------------------------------------------------


def _mb(field: str) -> float:
    """VmHWM / VmRSS of this process in MB: its own memory only. (ru_maxrss of a spawned child
    can carry the parent's peak across the exec.)"""
    with open("/proc/self/status") as status:
        line = next(x for x in status if x.startswith(field + ":"))
    return int(line.split()[1]) / 1024


def rss_child(data_dir: str, path: str, out: Connection) -> None:
    """Entry of a spawned process: a worker's baseline (Celery and the tasks loaded), then one
    import into a new SQLite database. Sends (baseline MB, peak MB, seconds)."""
    import synapse.celery_app  # noqa: F401

    settings = settings_for(Path(data_dir), None)
    upgrade(settings)
    baseline = _mb("VmRSS")
    seconds = ours(settings, Path(path))
    out.send((baseline, _mb("VmHWM"), seconds))
    out.close()
