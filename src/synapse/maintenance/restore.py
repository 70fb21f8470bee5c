"""`synapse restore FILE`: bring the database back to a backup.

The file is checked first (the same verification as when it was made, and its SHA-256 against
its manifest when there is one), so a damaged file never replaces a good database. SQLite: the
online backup API copies it into the live database file (other connections see the new content,
nothing is left half-written). PostgreSQL: `pg_restore --clean --if-exists --single-transaction`
(all or nothing) with a lock timeout, so a restore that waits on a running process says so.
Afterwards the row counts of the database are compared with the backup's own.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import logging
import socket
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import SQLAlchemyError

from synapse import audit
from synapse.config import Settings
from synapse.db.engine import session_scope
from synapse.db.models import Job, utcnow
from synapse.errors import OperationFailed
from synapse.jobs import states
from synapse.maintenance import pgtools
from synapse.maintenance.backup import verify_pg_archive, verify_sqlite
from synapse.maintenance.backup_files import manifest_path, sha256_of
from synapse.maintenance.common import sqlite_counts, sqlite_path

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_MAGIC = b"PGDMP"
LOCK_TIMEOUT = "30s"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Plan:
    path: Path
    database: str  # sqlite | postgresql
    manifest: dict[str, Any]
    target: str  # where it goes, without a password

    def describe(self) -> str:
        made = self.manifest.get("created_at", "unknown time")
        rows = sum((self.manifest.get("tables") or {}).values())
        counted = f", {rows:,} rows" if self.manifest.get("tables") else ""
        return f"{self.path.name} ({self.database}, made {made}{counted}) into {self.target}"


def locate(settings: Settings, name: str) -> Path:
    """A path, or the name of a backup in the backup folder."""
    for candidate in (Path(name).expanduser(), settings.backups_dir / name):
        if candidate.is_file():
            return candidate.resolve()
    raise OperationFailed(f"no backup file {name!r} (nor in {settings.backups_dir})")


def kind_of(path: Path) -> str:
    with path.open("rb") as src:
        head = src.read(16)
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PG_MAGIC):
        return "postgresql"
    raise OperationFailed(f"{path.name} is neither a SQLite database nor a pg_dump custom archive")


def plan(settings: Settings, name: str) -> Plan:
    path = locate(settings, name)
    database = kind_of(path)
    wanted = "sqlite" if settings.is_sqlite else "postgresql"
    if database != wanted:
        raise OperationFailed(f"{path.name} is a {database} backup, but the database is {wanted}")
    try:
        manifest = json.loads(manifest_path(path).read_text())
    except (OSError, ValueError):
        manifest = {}
    if settings.is_sqlite:
        target = str(sqlite_path(settings.effective_database_url))
    else:
        target = pgtools.PgTarget.from_url(settings.effective_database_url).display
    return Plan(path, database, manifest if isinstance(manifest, dict) else {}, target)


def check(settings: Settings, chosen: Plan) -> None:
    expected = chosen.manifest.get("sha256")
    if expected and sha256_of(chosen.path) != expected:
        raise OperationFailed(f"{chosen.path.name} does not match the SHA-256 of its manifest")
    if chosen.database == "sqlite":
        verify_sqlite(chosen.path)
    else:
        tables = chosen.manifest.get("tables")
        verify_pg_archive(settings, chosen.path, set(tables) if tables else None)


def _restore_sqlite(settings: Settings, path: Path) -> dict[str, int]:
    live = sqlite_path(settings.effective_database_url)
    live.parent.mkdir(parents=True, exist_ok=True)
    try:
        src = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
        try:
            dst = sqlite3.connect(live, timeout=30)
            try:
                src.backup(dst)
                dst.execute("PRAGMA journal_mode=WAL")
                return sqlite_counts(dst)
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.Error as exc:
        raise OperationFailed(f"SQLite restore failed: {exc}") from exc


def _restore_postgres(settings: Settings, path: Path) -> dict[str, int]:
    target = pgtools.PgTarget.from_url(settings.effective_database_url)
    argv = [
        pgtools.tool(settings, "pg_restore"),
        "--clean",
        "--if-exists",
        "--no-owner",
        "--single-transaction",
        "--exit-on-error",
        "--no-password",
        f"--dbname={target.dbname}",
        str(path),
    ]
    with pgtools.tool_env(target) as env:
        env["PGOPTIONS"] = f"{env.get('PGOPTIONS', '')} -c lock_timeout={LOCK_TIMEOUT}".strip()
        pgtools.run(argv, env=env, target=target)
    with target.connect() as conn:
        return pgtools.table_counts(conn)


def _settle_backup_job(settings: Settings, chosen: Plan) -> None:
    """The job that made this backup was RUNNING in its own snapshot: it did succeed."""
    job_id = chosen.manifest.get("job_id")
    if not job_id:
        return
    with session_scope(settings) as session:
        session.execute(
            update(Job)
            .where(Job.id == job_id, Job.state.in_(tuple(states.ACTIVE)))
            .values(
                state=states.SUCCESS,
                percent=100,
                message=f"Backup {chosen.path.name} (restored from it on {utcnow():%Y-%m-%d})",
                finished_at=utcnow(),
                heartbeat_at=None,
            )
        )


def restore(settings: Settings, chosen: Plan) -> dict[str, Any]:
    """Check the file, restore it, compare the row counts. Returns what was found."""
    check(settings, chosen)
    if chosen.database == "sqlite":
        counts = _restore_sqlite(settings, chosen.path)
    else:
        counts = _restore_postgres(settings, chosen.path)
    _settle_backup_job(settings, chosen)
    expected: dict[str, int] | None = chosen.manifest.get("tables")
    differences = {}
    if expected:
        for table in sorted(set(expected) | set(counts)):
            if expected.get(table) != counts.get(table):
                differences[table] = {"backup": expected.get(table), "now": counts.get(table)}
    _audit(settings, chosen, counts, differences)
    return {"tables": counts, "expected": expected, "differences": differences}


def _audit(
    settings: Settings, chosen: Plan, counts: dict[str, int], differences: dict[str, Any]
) -> None:
    """The restore in the audit trail of the restored database (after the row counts were
    compared, so the backup's own counts still match). An older schema without the trail
    (restored before `synapse migrate`) only logs that it could not."""
    user = None
    with contextlib.suppress(Exception):
        user = getpass.getuser()
    detail = {
        "file": chosen.path.name,
        "database": chosen.database,
        "made": chosen.manifest.get("created_at"),
        "rows": sum(counts.values()),
        "differences": sorted(differences),
        "user": user,
        "host": socket.gethostname(),
    }
    try:
        audit.record_now(
            settings,
            actor=audit.CLI_ACTOR,
            action="backup.restore",
            target=chosen.path.name,
            detail=detail,
        )
    except SQLAlchemyError as exc:
        log.warning("the restore could not be written to the audit trail: %s", exc)
