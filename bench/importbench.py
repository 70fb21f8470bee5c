"""Pieces of the import benchmark: data, the measured runs and their references."""

from __future__ import annotations

import csv
import json
import random
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from synapse.config import Settings
from synapse.db.engine import dispose_engines, session_scope
from synapse.db.migrate import upgrade
from synapse.imports.service import ImportRequest, run_import
from synapse.projects import ensure_project

TYPES = ("Motor", "Pump", "Transmitter", "Valve", "Heat Exchanger", "Compressor")
MAKERS = ("ABB", "Siemens", "Emerson", "Yokogawa", "Flowserve", "Grundfos")
HEADER = ["tag", "type", "power_kw", "voltage", "area", "manufacturer", "model", "description"]


def generate(path: Path, rows: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        for i in range(rows):
            kind = TYPES[i % len(TYPES)]
            writer.writerow([
                f"{kind[:2].upper()}-{100000 + i}", kind, f"{rng.uniform(0.5, 250):.1f}",
                rng.choice(("400", "690", "6600")), f"A{rng.randint(1, 40):02d}",
                rng.choice(MAKERS), f"M{rng.randint(100, 999)}",
                f"{kind} for unit {i % 97}, line {i % 13}" if i % 5 == 0 else f"{kind} {i}",
            ])  # fmt: skip


class Quiet:
    """Progress sink: the benchmark measures the import, not the event stream."""

    def update_progress(
        self, current: int, total: int, message: str, *, percent: int | None = None
    ) -> None:
        pass

    def log(self, level: str, message: str) -> None:
        pass


def settings_for(data_dir: Path, database_url: str | None) -> Settings:
    settings = Settings(_env_file=None, data_dir=data_dir, database_url=database_url)  # type: ignore[call-arg]
    upgrade(settings)
    return settings


def project_id(settings: Settings) -> int:
    with session_scope(settings) as db:
        return ensure_project(db, f"raw-{uuid.uuid4().hex[:8]}").id


def ours(settings: Settings, path: Path) -> float:
    """Seconds for the product's import (read, validate every row, stage, merge)."""
    request = ImportRequest(project_key=f"b-{uuid.uuid4().hex[:8]}", path=path)
    started = time.perf_counter()
    result = run_import(settings, request, Quiet())
    elapsed = time.perf_counter() - started
    assert result["created_count"] > 0, result
    return elapsed


def spec_loop(settings: Settings, path: Path) -> float:
    """The specification's import: pandas read_csv, iterrows, one ORM add per row, one commit."""
    import pandas as pd

    from synapse.db.models import Asset

    key = f"s-{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    with session_scope(settings) as db:
        project_id = ensure_project(db, key).id
        df = pd.read_csv(path)
        for _idx, row in df.iterrows():
            if not row.get("tag"):
                raise ValueError("missing tag")
        for _idx, row in df.iterrows():
            db.add(Asset(project_id=project_id, tag=row["tag"], type=row["type"],
                         properties=json.loads(row.to_json())))  # fmt: skip
    return time.perf_counter() - started


def raw_sqlite(folder: Path, path: Path) -> float:
    """The floor on SQLite: stdlib csv and one executemany into a plain table."""
    db = folder / f"raw-{uuid.uuid4().hex[:6]}.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (tag TEXT, type TEXT, properties TEXT)")
    started = time.perf_counter()
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = (
            (r[0], r[1], json.dumps(dict(zip(header[2:], r[2:], strict=False)))) for r in reader
        )
        with conn:
            conn.executemany("INSERT INTO t VALUES (?, ?, ?)", rows)
    elapsed = time.perf_counter() - started
    conn.close()
    db.unlink()
    return elapsed


def _psql(url: str, command: str) -> None:
    plain = url.replace("postgresql+psycopg://", "postgresql://")
    subprocess.run(["psql", plain, "-qc", command], check=True)


def raw_postgres(url: str, path: Path) -> float:
    """The floor on PostgreSQL for plain text: psql \\copy of the CSV into a table of text."""
    table = f"raw_{uuid.uuid4().hex[:8]}"
    _psql(url, f"CREATE TABLE {table} ({', '.join(f'{c} text' for c in HEADER)})")
    started = time.perf_counter()
    _psql(url, f"\\copy {table} FROM '{path}' WITH (FORMAT csv, HEADER)")
    elapsed = time.perf_counter() - started
    _psql(url, f"DROP TABLE {table}")
    return elapsed


def raw_postgres_assets(url: str, path: Path, project_id: int) -> float:
    """The floor for these rows in this schema: psql \\copy of (project, tag, type, JSON) rows
    into a copy of `assets` with its keys, unique index, foreign key and jsonb column. The
    CSV-to-JSON conversion is done beforehand and not timed."""
    table = f"raw_{uuid.uuid4().hex[:8]}"
    ready = path.with_suffix(".assets.csv")
    now = time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime())
    with path.open(newline="", encoding="utf-8") as src, ready.open("w", newline="") as out:
        reader, writer = csv.reader(src), csv.writer(out)
        header = next(reader)
        for r in reader:
            props = json.dumps(dict(zip(header[2:], r[2:], strict=False)))
            writer.writerow([project_id, r[0], r[1], props, now, now])
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


def peak_rss_mb_of_import(data_dir: Path, database_url: str | None, path: Path) -> float:
    """Peak resident memory of a fresh process that runs one import (the worker's share).

    Read from the child's own VmHWM: a fork of this (large) benchmark process would otherwise
    count in the child's maximum RSS.
    """
    code = (
        "import sys; from pathlib import Path; sys.path.insert(0, 'bench');"
        "import synapse.celery_app;"  # a worker's baseline: Celery and the tasks loaded
        "from importbench import settings_for, ours;"
        f"ours(settings_for(Path({str(data_dir)!r}), {database_url!r}), Path({str(path)!r}));"
        "print(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1])"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return int(out.stdout.strip().splitlines()[-1]) / 1024


def reset() -> None:
    dispose_engines()


def describe(value: Any) -> str:
    return f"{value:,.0f}" if isinstance(value, float) else str(value)
