"""Database backups: made online, verified before they count, the last N kept.

PostgreSQL: `pg_dump --format=custom` inside an exported snapshot, so the row counts recorded
beside the dump are those of the dump itself; verified with `pg_restore --list` (every table's
data is in the archive). SQLite: the online backup API (a consistent copy while the system
runs), verified with `PRAGMA integrity_check` and the row count of every table.

Files are named with their UTC time (`synapse-20261130T070000.123Z.dump` / `.db`) in
SYNAPSE_BACKUP_DIR (default `<data>/backups`). Each is written under a hidden temporary name and
moved into place only once verified, with a manifest beside it (`<name>.json`: verification,
row counts, SHA-256), which is what makes it count as a backup. The manifests live with the
files, not in the database, so they still tell the truth after a restore to an older state.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import psycopg

from synapse.config import Settings
from synapse.db.models import utcnow
from synapse.errors import OperationFailed
from synapse.maintenance import pgtools
from synapse.maintenance.backup_files import (
    Backup,
    backup_name,
    manifest_path,
    prune_backups,
    register,
    sha256_of,
)
from synapse.maintenance.common import Progress, human_size, sqlite_counts, sqlite_path

REQUIRED_TABLES = ("alembic_version", "jobs")


# -- verification (restore uses it too) ---------------------------------------------------------


def verify_sqlite(path: Path) -> dict[str, int]:
    """Integrity check and row counts of a SQLite backup; raises when it is not sound."""
    try:
        conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
        try:
            result = [row[0] for row in conn.execute("PRAGMA integrity_check")]
            if result != ["ok"]:
                raise OperationFailed(f"integrity_check failed: {'; '.join(result[:5])}")
            counts = sqlite_counts(conn)
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise OperationFailed(f"{path.name} is not a readable SQLite database: {exc}") from exc
    missing = [t for t in REQUIRED_TABLES if t not in counts]
    if missing:
        raise OperationFailed(f"{path.name} is not a SYNAPSE database (no {', '.join(missing)})")
    return counts


def verify_pg_archive(settings: Settings, path: Path, expected: set[str] | None) -> set[str]:
    """`pg_restore --list`: the archive reads, and holds the data of every expected table."""
    argv = [pgtools.tool(settings, "pg_restore"), "--list", str(path)]
    listing = pgtools.run(argv, env=dict(os.environ))
    tables = pgtools.archive_tables(listing)
    missing = sorted((expected or set(REQUIRED_TABLES)) - tables)
    if missing:
        raise OperationFailed(f"the archive lacks the data of {', '.join(missing)}")
    return tables


# -- making one ------------------------------------------------------------------------------


def _dump_sqlite(settings: Settings, dest: Path) -> None:
    source = sqlite_path(settings.effective_database_url)
    if not source.is_file():
        raise OperationFailed(f"the SQLite database {source} does not exist")
    try:
        src = sqlite3.connect(source, timeout=30)
        try:
            dst = sqlite3.connect(dest)
            try:
                src.backup(dst)  # in one step: a consistent snapshot, writers go on (WAL)
                dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.Error as exc:
        raise OperationFailed(f"SQLite backup failed: {exc}") from exc


def _dump_postgres(settings: Settings, dest: Path, progress: Progress) -> dict[str, int] | None:
    """pg_dump in a snapshot exported by a connection that counts the rows of that snapshot."""
    target = pgtools.PgTarget.from_url(
        settings.backup_database_url or settings.effective_database_url
    )
    argv = [pgtools.tool(settings, "pg_dump"), "--format=custom", "--no-password", f"--file={dest}"]

    def watch() -> None:
        size = dest.stat().st_size if dest.exists() else 0
        progress.update_progress(1, 4, f"Dumping PostgreSQL... {human_size(size)}")

    counts: dict[str, int] | None = None
    conn: psycopg.Connection[Any] | None = None
    try:
        conn = target.connect()
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        row = conn.execute("SELECT pg_export_snapshot()").fetchone()
        counts = pgtools.table_counts(conn)
        argv.append(f"--snapshot={row[0] if row else ''}")
    except psycopg.Error:
        # No snapshot then: pg_dump connects by itself and its message says what is wrong.
        if conn is not None:
            conn.close()
        conn, counts = None, None
    try:
        with pgtools.tool_env(target) as env:
            pgtools.run(argv, target=target, env=env, watch=watch)
    finally:
        if conn is not None:
            conn.close()
    return counts


def run_backup(
    settings: Settings, progress: Progress, *, job_id: str | None = None
) -> dict[str, Any]:
    """Make, verify and record a backup, then prune the old ones. The result is the job's."""
    database = "sqlite" if settings.is_sqlite else "postgresql"
    folder = settings.backups_dir
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OperationFailed(f"cannot create the backup folder {folder}: {exc}") from exc
    started = utcnow()
    name = backup_name(started, database)
    final = folder / name
    tmp = folder / f".{name}.part"
    tmp_manifest = folder / f".{name}.json.part"
    try:
        progress.update_progress(0, 4, f"Backing up the {database} database")
        if database == "sqlite":
            _dump_sqlite(settings, tmp)
            progress.update_progress(2, 4, "Verifying (integrity_check, row counts)")
            counts: dict[str, int] | None = verify_sqlite(tmp)
            verification = "PRAGMA integrity_check: ok; every table counted"
        else:
            counts = _dump_postgres(settings, tmp, progress)
            progress.update_progress(2, 4, "Verifying (pg_restore --list)")
            tables = verify_pg_archive(settings, tmp, set(counts) if counts else None)
            verification = f"pg_restore --list: the data of {len(tables)} tables"
        size = tmp.stat().st_size
        manifest = {
            "name": name,
            "database": database,
            "format": "sqlite" if database == "sqlite" else "pg_dump --format=custom",
            "created_at": started.isoformat(),
            "size": size,
            "sha256": sha256_of(tmp),
            "verified": True,
            "verification": verification,
            "tables": counts,
            "job_id": job_id,
        }
        tmp_manifest.write_text(json.dumps(manifest, indent=2))
        os.replace(tmp_manifest, manifest_path(final))
        os.replace(tmp, final)
    except OSError as exc:  # a full disk, a read-only folder
        raise OperationFailed(f"backup failed writing to {folder}: {exc.strerror or exc}") from exc
    finally:
        for leftover in (tmp, tmp_manifest):
            with contextlib.suppress(OSError):
                leftover.unlink()
    record = register(settings, final, job_id=job_id)
    progress.update_progress(3, 4, f"Verified {name}; pruning old backups")
    removed = prune_backups(settings, keep=settings.backup_keep)
    rows = sum((counts or {}).values())
    summary = f"Backup {name} verified ({human_size(size)}"
    summary += f", {rows:,} rows)" if counts else ")"
    if removed:
        summary += f"; removed {len(removed)} older"
    progress.update_progress(4, 4, summary)
    backup = Backup(name, final, size, started, True, manifest, record["id"])
    return {"summary": summary, "backup": backup.public(), "removed": removed, "files": [record]}
