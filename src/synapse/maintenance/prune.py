"""Job history retention: finished jobs older than SYNAPSE_JOB_RETENTION_DAYS go, with their
log lines, row errors, change ledgers, uploaded files and generated files (packages, reports,
exports). Each pruned job leaves a small mark (`pruned_jobs`), so that an undo or commit of it
answers "pruned" instead of "not found".

The operators' audit trail follows its own, longer retention (SYNAPSE_AUDIT_RETENTION_DAYS,
365 days): its rows name jobs that may be long gone, and say who did what to them.

Backups are the exception: they follow their own retention (SYNAPSE_BACKUP_KEEP), so the backup
file of a pruned backup job stays, its record merely loses the job. Rows go in batches, each in
one transaction; files are deleted from disk only after their rows are gone, so a failed batch
never leaves a row pointing at a deleted file. An upload still used by a later manual retry of
its import is kept, as is the upload of a preview that a kept commit reads too.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from synapse import audit, idempotency
from synapse.config import Settings
from synapse.db.engine import session_scope
from synapse.db.models import (
    AssetChange,
    Job,
    JobLog,
    JobRowError,
    PrunedJob,
    StoredFile,
    utcnow,
)
from synapse.jobs import states
from synapse.maintenance.common import Progress, human_size

BATCH = 500
ORPHAN_UPLOAD_AGE = timedelta(days=1)
IMPORT_TASK = "import_csv_assets"


@dataclass
class Pruned:
    jobs: int = 0
    logs: int = 0
    row_errors: int = 0
    files: int = 0
    uploads: int = 0
    bytes: int = 0
    doomed: list[Path] = field(default_factory=list)


def _inside(path: Path, folder: Path) -> bool:
    resolved = path.resolve()
    return folder.resolve() in resolved.parents


def _upload_of(settings: Settings, params: dict[str, Any] | None) -> Path | None:
    raw = (params or {}).get("file_path")
    if not isinstance(raw, str):
        return None
    path = Path(raw)
    return path if _inside(path, settings.uploads_dir) else None  # never outside the folder


def _uploads_still_used(session: Session, ids: Sequence[str], paths: Sequence[str]) -> set[str]:
    """Of `paths`, the uploads that a kept job (a retry, a commit, another preview) reads too."""
    if not paths:
        return set()
    query = select(Job.params["file_path"].as_string()).where(
        Job.type == IMPORT_TASK,
        Job.id.not_in(ids),
        Job.params["file_path"].as_string().in_(list(paths)),
    )
    return {str(p) for p in session.scalars(query)}


def _count(session: Session, model: Any, ids: Sequence[str]) -> int:
    query = select(func.count()).select_from(model).where(model.job_id.in_(ids))
    return int(session.scalar(query) or 0)


def _prune_batch(settings: Settings, session: Session, cutoff: datetime, done: Pruned) -> int:
    finished_at = func.coalesce(Job.finished_at, Job.created_at)
    rows = session.execute(
        select(Job.id, Job.params, Job.type, Job.project_key, Job.finished_at)
        .where(Job.state.in_(tuple(states.FINISHED)), finished_at < cutoff)
        .order_by(finished_at)
        .limit(BATCH)
    ).all()
    ids = [row.id for row in rows]
    if not ids:
        return 0
    uploads = {row.id: _upload_of(settings, row.params) for row in rows}
    used = _uploads_still_used(session, ids, sorted({str(u) for u in uploads.values() if u}))
    for row in rows:
        upload = uploads[row.id]
        if upload is not None and str(upload) not in used and upload.exists():
            done.uploads += 1
            done.doomed.append(upload)
    for stored in session.scalars(select(StoredFile).where(StoredFile.job_id.in_(ids))):
        if stored.kind == "backup":
            continue  # backups keep to SYNAPSE_BACKUP_KEEP
        path = settings.data_dir / stored.path
        if _inside(path, settings.data_dir):
            done.doomed.append(path)
        done.files += 1
        session.delete(stored)
    session.execute(update(StoredFile).where(StoredFile.job_id.in_(ids)).values(job_id=None))
    done.logs += _count(session, JobLog, ids)
    done.row_errors += _count(session, JobRowError, ids)
    session.execute(delete(JobLog).where(JobLog.job_id.in_(ids)))
    session.execute(delete(JobRowError).where(JobRowError.job_id.in_(ids)))
    session.execute(delete(AssetChange).where(AssetChange.job_id.in_(ids)))
    session.execute(delete(PrunedJob).where(PrunedJob.id.in_(ids)))
    now = utcnow()
    session.execute(
        insert(PrunedJob),
        [
            {"id": r.id, "type": r.type, "project_key": r.project_key,
             "finished_at": r.finished_at, "pruned_at": now}
            for r in rows
        ],
    )  # fmt: skip
    session.execute(delete(Job).where(Job.id.in_(ids)))
    done.jobs += len(ids)
    return len(ids)


def _unlink(paths: Iterable[Path], done: Pruned) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            size = path.stat().st_size
            path.unlink()
            done.bytes += size


def _orphan_uploads(settings: Settings, cutoff: datetime, done: Pruned) -> None:
    """Uploads older than the cutoff that no job reads (named after their job, or an upload
    id that no job's parameters name)."""
    folder = settings.uploads_dir
    if not folder.is_dir():
        return
    old = [p for p in folder.iterdir() if p.is_file() and p.stat().st_mtime < cutoff.timestamp()]
    for start in range(0, len(old), BATCH):
        chunk = old[start : start + BATCH]
        with session_scope(settings) as session:
            alive = set(session.scalars(select(Job.id).where(Job.id.in_([p.stem for p in chunk]))))
            used = _uploads_still_used(session, [], [str(p) for p in chunk])
        orphans = [p for p in chunk if p.stem not in alive and str(p) not in used]
        done.uploads += len(orphans)
        _unlink(orphans, done)


def prune_jobs(
    settings: Settings, progress: Progress, *, now: datetime | None = None
) -> dict[str, Any]:
    """Delete finished jobs older than the retention, and what belongs to them."""
    cutoff = (now or utcnow()) - timedelta(days=settings.job_retention_days)
    done = Pruned()
    progress.update_progress(0, 1, f"Pruning jobs finished before {cutoff:%Y-%m-%d %H:%M} UTC")
    while True:
        with session_scope(settings) as session:
            count = _prune_batch(settings, session, cutoff, done)
        _unlink(done.doomed, done)
        done.doomed.clear()
        if count < BATCH:
            break
        progress.update_progress(0, 1, f"Pruned {done.jobs:,} jobs so far")
    # An upload no job reads (a guided import left before its preview) is kept for a day.
    _orphan_uploads(settings, (now or utcnow()) - ORPHAN_UPLOAD_AGE, done)
    with session_scope(settings) as session:
        audit_events = audit.prune(session, older_than_days=settings.audit_retention_days, now=now)
        idempotency_keys = idempotency.prune(session, now=now)  # older than 24 h
    summary = (
        f"Pruned {done.jobs:,} jobs older than {settings.job_retention_days} days "
        f"({done.logs:,} log lines, {done.files:,} files, {done.uploads:,} uploads; "
        f"{human_size(done.bytes)} freed) and {audit_events:,} audit events older than "
        f"{settings.audit_retention_days} days"
    )
    progress.update_progress(1, 1, summary)
    return {
        "summary": summary,
        "cutoff": cutoff.isoformat(),
        "retention_days": settings.job_retention_days,
        "jobs": done.jobs,
        "logs": done.logs,
        "row_errors": done.row_errors,
        "files": done.files,
        "uploads": done.uploads,
        "bytes_freed": done.bytes,
        "audit_events": audit_events,
        "audit_retention_days": settings.audit_retention_days,
        "idempotency_keys": idempotency_keys,
    }
