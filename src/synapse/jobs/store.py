"""Every database operation on jobs, their log lines and row errors.

The API, the worker and the CLI all call these, or `attempts.py` for the writes of a running
attempt (claim, heartbeat, progress, retry, end state); nothing else writes the jobs table.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    and_,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from synapse.config import Settings
from synapse.db.engine import session_scope
from synapse.db.models import Job, JobLog, JobRowError, utcnow
from synapse.jobs import search, states

ROW_ERROR_BATCH = 5_000


@dataclass(frozen=True)
class JobFilter:
    states: tuple[str, ...] = ()
    type: str | None = None
    project_key: str | None = None
    since: timedelta | None = None
    projects: frozenset[str] | None = None  # a member's projects; None: all
    q: str | None = None  # id prefix or text in parameters / error (jobs/search.py)
    id_prefix: str | None = None  # jobs whose id starts so (`q` when it names jobs by their id)
    submitted_by: str | None = None
    ids: tuple[str, ...] | None = None  # only these jobs (a bulk action's selection)


@dataclass(frozen=True)
class JobPage:
    items: Sequence[Job]
    total: int
    next_cursor: str | None


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
    run_at: datetime | None = None,
    message: str = "Queued",
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
        message=message,
        attempts=0,
        created_at=utcnow(),
        submitted_by=submitted_by,
        retry_of=retry_of,
        run_at=run_at,
    )
    session.add(job)
    return job


def get_job(session: Session, job_id: str) -> Job | None:
    return session.get(Job, job_id)


def cancel_queued(session: Session, job_id: str) -> bool:
    """Cancel a job that is not running: SCHEDULED, QUEUED, or RETRYING (waiting for its next
    attempt). False when it started (or ended) meanwhile. Its message, when it comes, finds it
    finished (a scheduled job has none yet: the beat only sends SCHEDULED ones)."""
    message = case(
        (Job.state == states.QUEUED, "Cancelled before it started"),
        (Job.state == states.SCHEDULED, "Cancelled before its scheduled time"),
        else_="Cancelled while waiting to retry",
    )
    done = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.state.in_((states.SCHEDULED, states.QUEUED, states.RETRYING)))
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


def _filtered(query: Any, flt: JobFilter, dialect: str) -> Any:
    if flt.states:
        query = query.where(Job.state.in_(flt.states))
    if flt.type:
        query = query.where(Job.type == flt.type)
    if flt.project_key:
        query = query.where(Job.project_key == flt.project_key)
    if flt.since is not None:  # finished in the window, or (not finished yet) created in it
        start = utcnow() - flt.since
        if flt.states and set(flt.states) <= states.FINISHED:
            finished: Any = Job.finished_at
            if dialect == "sqlite":  # count through the state's index, not all of the window
                finished = func.coalesce(Job.finished_at, Job.finished_at)
            query = query.where(finished >= start)
        else:
            query = query.where(
                or_(
                    Job.finished_at >= start,
                    and_(Job.finished_at.is_(None), Job.created_at >= start),
                )
            )
    if flt.projects is not None:
        query = query.where(Job.project_key.in_(sorted(flt.projects)))
    if flt.submitted_by:
        query = query.where(Job.submitted_by == flt.submitted_by)
    if flt.id_prefix:
        query = query.where(Job.id.startswith(flt.id_prefix, autoescape=True))
    if flt.q:
        query = query.where(search.matches(flt.q, dialect))
    if flt.ids is not None:
        query = query.where(Job.id.in_(flt.ids))
    return query


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def filtered(session: Session, query: Any, flt: JobFilter) -> Any:
    """`query` (a select over jobs) limited to what the filter matches."""
    return _filtered(query, _by_id_first(session, flt), _dialect(session))


def _by_id_first(session: Session, flt: JobFilter) -> JobFilter:
    """A `q` that is the start of some job's id (what the lists show: 8 characters) finds those
    jobs by the id's index alone; text in parameters and errors is searched (every row read)
    only when no id starts so."""
    prefix = search.id_prefix(flt.q)
    if prefix is None:
        return flt
    found = session.scalar(
        select(Job.id).where(Job.id.startswith(prefix, autoescape=True)).limit(1)
    )
    return replace(flt, q=None, id_prefix=prefix) if found is not None else flt


def count_jobs(session: Session, flt: JobFilter) -> int:
    query = filtered(session, select(func.count()).select_from(Job), flt)
    return int(session.scalar(query) or 0)


def page_jobs(
    session: Session,
    flt: JobFilter,
    *,
    limit: int,
    offset: int = 0,
    cursor: search.Cursor | None = None,
    oldest_first: bool = False,
) -> JobPage:
    """One page of the jobs the filter matches, newest (or oldest) first, with the cursor of
    the next page (None on the last). The cursor keeps to the created_at index."""
    if flt.q:
        return _page_of_search(session, flt, limit, offset, cursor, oldest_first)
    query = filtered(session, select(Job), flt)
    if cursor is not None:
        query = query.where(search.after(cursor, oldest_first=oldest_first))
    created: Any = Job.created_at
    if len(flt.states) > 1 and _dialect(session) == "sqlite":
        # For `state IN (a, b) ORDER BY created_at` SQLite walks the created_at index through
        # the whole history to find the few RUNNING jobs; sorting by an expression makes it
        # find them by the state index and sort those.
        created = func.coalesce(Job.created_at, Job.created_at)
    order = (created.asc(), Job.id.asc()) if oldest_first else (created.desc(), Job.id.desc())
    rows = session.scalars(query.order_by(*order).limit(limit + 1).offset(offset)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    token = search.Cursor.of(rows[-1]).encode() if more and rows else None
    return JobPage(items=rows, total=count_jobs(session, flt), next_cursor=token)


def _page_of_search(
    session: Session,
    flt: JobFilter,
    limit: int,
    offset: int,
    cursor: search.Cursor | None,
    oldest_first: bool,
) -> JobPage:
    """A text search reads every row anyway: one scan for the keys of all matches (the total
    and the page from it), then the page's rows by id, instead of a count and an index walk."""
    keys = sorted(
        session.execute(filtered(session, select(Job.created_at, Job.id), flt)).tuples(),
        reverse=not oldest_first,
    )
    total = len(keys)
    if cursor is not None:
        mark = (cursor.created_at, cursor.job_id)
        keys = [k for k in keys if (k > mark if oldest_first else k < mark)]
    window = keys[offset : offset + limit + 1]
    chosen = [job_id for _at, job_id in window[:limit]]
    found = {j.id: j for j in session.scalars(select(Job).where(Job.id.in_(chosen)))}
    rows = [found[i] for i in chosen if i in found]
    more = len(window) > limit
    token = search.Cursor.of(rows[-1]).encode() if more and rows else None
    return JobPage(items=rows, total=total, next_cursor=token)


def list_jobs(
    session: Session, flt: JobFilter, *, limit: int, offset: int
) -> tuple[Sequence[Job], int]:
    page = page_jobs(session, flt, limit=limit, offset=offset)
    return page.items, page.total


def find_by_prefix(
    session: Session, prefix: str, *, projects: frozenset[str] | None, limit: int = 50
) -> Sequence[Job]:
    """The jobs (visible in `projects`; None: all) whose id starts with `prefix`."""
    query = select(Job).where(Job.id.startswith(prefix.lower(), autoescape=True))
    if projects is not None:
        query = query.where(Job.project_key.in_(sorted(projects)))
    return session.scalars(query.order_by(Job.created_at.desc()).limit(limit)).all()


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
