"""What people do with an import after it ran: commit a preview, undo an import, list them.

The checks here answer a clear Conflict (409) before any job is queued: a commit of something
that is not a finished preview, or of one already committed; an undo of a failed import, a
preview, an undo, an import already undone, or one whose change record was pruned.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from celery import Celery
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from synapse.config import Settings
from synapse.db.engine import session_scope
from synapse.db.models import AssetChange, Job, PrunedJob
from synapse.errors import Conflict, NotFound
from synapse.imports.undo import TASK as UNDO_TASK
from synapse.imports.upload import IMPORT_TASK
from synapse.jobs import states
from synapse.jobs.service import submit_job

LIVE = (states.SCHEDULED, states.QUEUED, states.RUNNING, states.RETRYING, states.SUCCESS)


def _is_preview(job: Job) -> bool:
    return (job.params or {}).get("mode") in ("preview", "dry_run")


def _job_or_gone(session: Session, job_id: str) -> Job:
    job = session.get(Job, job_id)
    if job is not None:
        return job
    gone = session.get(PrunedJob, job_id)
    if gone is not None:
        when = f"{gone.pruned_at:%Y-%m-%d}" if gone.pruned_at else "earlier"
        raise Conflict(
            f"job {job_id} was pruned on {when} with its change record (finished jobs are kept "
            "for SYNAPSE_JOB_RETENTION_DAYS); it can no longer be committed or undone"
        )
    raise NotFound(f"job {job_id} not found")


def pruned_project(session: Session, job_id: str) -> str | None:
    gone = session.get(PrunedJob, job_id)
    return gone.project_key if gone is not None else None


def _followers(session: Session, *, task: str, key: str, job_id: str) -> list[Job]:
    """Jobs of `task` whose parameter `key` names `job_id` (commits of a preview, undos)."""
    query = select(Job).where(Job.type == task, Job.params[key].as_string() == job_id)
    return list(session.scalars(query.order_by(Job.created_at.desc())))


def check_commit(session: Session, job: Job) -> None:
    if job.type != IMPORT_TASK or not _is_preview(job):
        raise Conflict(f"job {job.id} is not a preview; only a finished preview can be committed")
    if job.state != states.SUCCESS:
        raise Conflict(f"preview {job.id} is {job.state}; only a finished preview can be committed")
    for other in _followers(session, task=IMPORT_TASK, key="commit_of", job_id=job.id):
        if other.state in LIVE:
            raise Conflict(f"preview {job.id} was already committed by job {other.id}")


def submit_commit(
    *,
    settings: Settings,
    celery: Celery,
    job_id: str,
    by: str | None = None,
    run_at: datetime | None = None,
) -> Job:
    """Queue the import a preview showed: same file, sheet, header row and mapping."""
    with session_scope(settings) as session:
        preview = _job_or_gone(session, job_id)
        check_commit(session, preview)
        params = dict(preview.params) | {"mode": "upsert", "commit_of": preview.id}
        queue, project_key = preview.queue, preview.project_key
    return submit_job(
        settings=settings,
        celery=celery,
        task_name=IMPORT_TASK,
        params=params,
        queue=queue,
        project_key=project_key,
        submitted_by=by,
        run_at=run_at,
    )


def why_not_undo(
    session: Session, job: Job, *, undos: list[Job] | None = None, has_ledger: bool | None = None
) -> str | None:
    """Why this job cannot be undone, or None when it can. `undos` (the undo jobs of this
    import) and `has_ledger` are looked up when not given."""
    if job.type == UNDO_TASK:
        of = (job.params or {}).get("import_job_id")
        return (
            f"job {job.id} is itself an undo (of import {of}); an undo is not undone: "
            "import the file again to bring its changes back"
        )
    if job.type != IMPORT_TASK:
        return f"job {job.id} is a {job.type} job, not an import; only imports can be undone"
    if _is_preview(job):
        return f"job {job.id} is a preview: it wrote nothing, so there is nothing to undo"
    if job.state != states.SUCCESS:
        return (
            f"import {job.id} is {job.state}; only a successful import can be undone "
            "(a failed or cancelled import wrote nothing)"
        )
    if undos is None:
        undos = _followers(session, task=UNDO_TASK, key="import_job_id", job_id=job.id)
    for other in undos:
        if other.state in LIVE:
            verb = "was already undone" if other.state == states.SUCCESS else "is being undone"
            return f"import {job.id} {verb} by job {other.id}"
    if has_ledger is None:
        has_ledger = (
            session.scalar(select(AssetChange.id).where(AssetChange.job_id == job.id).limit(1))
            is not None
        )
    if not has_ledger:
        return (
            f"import {job.id} has no change record (it ran before changes were recorded); "
            "it cannot be undone"
        )
    return None


def submit_undo(
    *,
    settings: Settings,
    celery: Celery,
    job_id: str,
    by: str | None = None,
    run_at: datetime | None = None,
) -> Job:
    with session_scope(settings) as session:
        job = _job_or_gone(session, job_id)
        reason = why_not_undo(session, job)
        if reason:
            raise Conflict(reason)
        project_key = job.project_key
    return submit_job(
        settings=settings,
        celery=celery,
        task_name=UNDO_TASK,
        params={"project_id": project_key, "import_job_id": job_id},
        queue="default",
        project_key=project_key,
        submitted_by=by,
        run_at=run_at,
    )


def list_imports(
    session: Session, project_key: str, *, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """A project's imports and undos, newest first, with what can be done with each."""
    query = select(Job).where(
        Job.project_key == project_key, Job.type.in_((IMPORT_TASK, UNDO_TASK))
    )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    jobs = list(session.scalars(query.order_by(Job.created_at.desc()).limit(limit).offset(offset)))
    ids = [job.id for job in jobs]
    undos: dict[str, list[Job]] = {}
    for undo in session.scalars(
        select(Job)
        .where(Job.type == UNDO_TASK, Job.params["import_job_id"].as_string().in_(ids))
        .order_by(Job.created_at.desc())
    ):
        undos.setdefault(str(undo.params.get("import_job_id")), []).append(undo)
    recorded = select(AssetChange.id).where(AssetChange.job_id == Job.id).exists()
    with_ledger = set(session.scalars(select(Job.id).where(Job.id.in_(ids), recorded)))
    items = []
    for job in jobs:
        params, result = job.params or {}, job.result or {}
        mine = undos.get(job.id, [])
        undone_by = next((u.id for u in mine if u.state in LIVE), None)
        why = why_not_undo(session, job, undos=mine, has_ledger=job.id in with_ledger)
        items.append(
            {
                "job_id": job.id,
                "type": job.type,
                "state": job.state,
                "mode": params.get("mode"),
                "filename": params.get("filename"),
                "created_at": job.created_at,
                "finished_at": job.finished_at,
                "submitted_by": job.submitted_by,
                "created_count": result.get("created_count"),
                "updated_count": result.get("updated_count"),
                "unchanged_count": result.get("unchanged_count"),
                "skipped_count": result.get("skipped_count"),
                "deleted_count": result.get("deleted_count"),
                "restored_count": result.get("restored_count"),
                "conflict_count": result.get("conflict_count"),
                "summary": result.get("summary") or job.message,
                "commit_of": params.get("commit_of"),
                "undo_of": params.get("import_job_id") if job.type == UNDO_TASK else None,
                "undone_by": undone_by,
                "can_undo": why is None,
                "why_not": why,
            }
        )
    return items, int(total)
