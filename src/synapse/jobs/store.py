"""Every database operation on jobs, their log lines and row errors.

The API, the worker and the CLI all call these, or `attempts.py` for the writes of a running
attempt (claim, heartbeat, progress, retry, end state); nothing else writes the jobs table.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    case,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Session

from synapse.config import Settings
from synapse.db.engine import session_scope
from synapse.db.models import Job, JobLog, JobRowError, utcnow
from synapse.jobs import states

ROW_ERROR_BATCH = 5_000


@dataclass(frozen=True)
class JobFilter:
    states: tuple[str, ...] = ()
    type: str | None = None
    project_key: str | None = None
    since: timedelta | None = None
    projects: frozenset[str] | None = None  # a member's projects; None: all


def add_job(
    session: Session,
    *,
    job_id: str,
    task_name: str,
    params: dict[str, Any],
    queue: str,
    project_key: str | None,
    submitted_by: str | None = None,
    retry_of: str | None = None,
    state: str = states.QUEUED,
) -> Job:
    job = Job(
        id=job_id,
        type=task_name,
        project_key=project_key,
        params=params,
        queue=queue,
        state=state,
        percent=0,
        current=0,
        total=0,
        message="Queued",
        attempts=0,
        created_at=utcnow(),
        submitted_by=submitted_by,
        retry_of=retry_of,
    )
    session.add(job)
    return job


def get_job(session: Session, job_id: str) -> Job | None:
    return session.get(Job, job_id)


def cancel_queued(session: Session, job_id: str) -> bool:
    """Cancel a job that is not running: QUEUED, or RETRYING (waiting for its next attempt).
    False when it started (or ended) meanwhile. Its message, when it comes, finds it finished."""
    message = case(
        (Job.state == states.QUEUED, "Cancelled before it started"),
        else_="Cancelled while waiting to retry",
    )
    done = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.state.in_((states.QUEUED, states.RETRYING)))
        .values(state=states.CANCELLED, message=message, finished_at=utcnow(), next_retry_at=None)
    )
    return bool(done.rowcount)  # type: ignore[attr-defined]


def add_log(settings: Settings, *, job_id: str, level: str, message: str) -> None:
    with session_scope(settings) as session:
        add_log_line(session, job_id=job_id, level=level, message=message)


def add_log_line(session: Session, *, job_id: str, level: str, message: str) -> None:
    session.execute(insert(JobLog).values(job_id=job_id, at=utcnow(), level=level, message=message))


def add_row_errors(settings: Settings, *, job_id: str, errors: Iterable[dict[str, Any]]) -> None:
    with session_scope(settings) as session:
        session.execute(delete(JobRowError).where(JobRowError.job_id == job_id))
        batch: list[dict[str, Any]] = []
        for error in errors:
            batch.append({"job_id": job_id, **error})
            if len(batch) >= ROW_ERROR_BATCH:
                session.execute(insert(JobRowError), batch)
                batch = []
        if batch:
            session.execute(insert(JobRowError), batch)


def _filtered(query: Any, flt: JobFilter) -> Any:
    if flt.states:
        query = query.where(Job.state.in_(flt.states))
    if flt.type:
        query = query.where(Job.type == flt.type)
    if flt.project_key:
        query = query.where(Job.project_key == flt.project_key)
    if flt.since is not None:  # finished in the window, or (not finished yet) created in it
        query = query.where(func.coalesce(Job.finished_at, Job.created_at) >= utcnow() - flt.since)
    if flt.projects is not None:
        query = query.where(Job.project_key.in_(sorted(flt.projects)))
    return query


def list_jobs(
    session: Session, flt: JobFilter, *, limit: int, offset: int
) -> tuple[Sequence[Job], int]:
    total = session.scalar(_filtered(select(func.count()).select_from(Job), flt)) or 0
    rows = session.scalars(
        _filtered(select(Job), flt).order_by(Job.created_at.desc()).limit(limit).offset(offset)
    ).all()
    return rows, total


def list_logs(
    session: Session, job_id: str, *, after_id: int = 0, limit: int = 1000
) -> tuple[Sequence[JobLog], int]:
    """Up to `limit` lines after `after_id`, oldest first, and how many lines the job has."""
    query = (
        select(JobLog)
        .where(JobLog.job_id == job_id, JobLog.id > after_id)
        .order_by(JobLog.id)
        .limit(limit)
    )
    count = select(func.count()).select_from(JobLog).where(JobLog.job_id == job_id)
    return session.scalars(query).all(), session.scalar(count) or 0


def list_row_errors(
    session: Session, job_id: str, *, limit: int | None, offset: int = 0
) -> tuple[Sequence[JobRowError], int]:
    total = (
        session.scalar(
            select(func.count()).select_from(JobRowError).where(JobRowError.job_id == job_id)
        )
        or 0
    )
    query = (
        select(JobRowError)
        .where(JobRowError.job_id == job_id)
        .order_by(JobRowError.row, JobRowError.id)
        .offset(offset)
    )
    if limit is not None:
        query = query.limit(limit)
    return session.scalars(query).all(), total


def since_to_delta(since: str | None) -> timedelta | None:
    return {"1h": timedelta(hours=1), "24h": timedelta(days=1), "7d": timedelta(days=7)}.get(
        since or "all"
    )


def is_finished(job: Job) -> bool:
    return job.state in states.FINISHED


def duration_seconds(job: Job) -> float | None:
    if job.started_at is None:
        return None
    end: datetime = job.finished_at or utcnow()
    return round((end - job.started_at).total_seconds(), 3)
