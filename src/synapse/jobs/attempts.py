"""One attempt of a job, from the worker's side: claim, heartbeat, progress, retry, end state.

The hot path of a job's life, kept apart from the rest of the job store (store.py): each
delivery claims its attempt with a compare-and-set, beats while it runs, saves its progress and
writes its end state only while it still holds the attempt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import Table, Update, and_, bindparam, exists, or_, select, update
from sqlalchemy.orm import Session

from synapse.config import Settings
from synapse.db import hot
from synapse.db.engine import session_scope
from synapse.db.models import Job, QueueState, utcnow
from synapse.jobs import states
from synapse.jobs.store import add_job, add_log_line


@dataclass(frozen=True)
class Claim:
    """The outcome of a delivery: whether this worker runs the job, and why (not).

    It carries the few fields of the job that the worker needs, as they stand after the claim.
    """

    run: bool
    reason: str  # new | retry | lost | duplicate | finished | quarantined | early
    state: str
    type: str
    project_key: str | None
    attempts: int
    error: str | None = None

    @classmethod
    def of(cls, job: Job, run: bool, reason: str) -> Claim:
        return cls(run, reason, job.state, job.type, job.project_key, job.attempts, job.error)


# The hot path of a job's life as prebuilt Core statements: parameters are bound at each call;
# the statement, its cache key and its compiled form are made once per process. Each is one
# statement, run as a transaction of its own (`hot.run`: in a worker's pool process on
# PostgreSQL, straight on a connection the process keeps; see db/hot.py).
_jobs = cast(Table, Job.__table__)
_c = _jobs.c
_now = bindparam("b_now", type_=_c.heartbeat_at.type)

# The claim of a job that is waiting (QUEUED before its first attempt, or RETRYING after one, or
# SCHEDULED once its time has come: the beat sends it before it marks it QUEUED, see
# jobs/scheduled.py): one UPDATE that is itself the compare-and-set. Whether it was a first
# attempt is told by `attempts` (1 after the claim), and a row in any other state or
# combination is left to the read-then-CAS path of `claim_attempt`.
_CLAIM_WAITING = (
    update(_jobs)
    .where(
        _c.id == bindparam("b_id"),
        or_(
            and_(_c.state == states.QUEUED, _c.attempts == 0),
            and_(_c.state == states.RETRYING, _c.attempts > 0),
            and_(_c.state == states.SCHEDULED, _c.attempts == 0, _c.run_at <= _now),
        ),
    )
    .values(
        state=states.RUNNING,
        attempts=_c.attempts + 1,
        started_at=_now,
        heartbeat_at=_now,
        percent=0,
        current=0,
        message="Started",
        worker=bindparam("b_worker", type_=_c.worker.type),
        error=None,
        traceback=None,
        next_retry_at=None,
    )
    .returning(_c.type, _c.project_key, _c.attempts)
)

# The start gate's common case in one statement: the claim of a waiting job whose queue is not
# paused. No row: the job was not simply waiting, or its queue is paused; the caller looks
# closer (`JobTask`: the paused-queue gate, then `claim_attempt`).
_qs = cast(Table, QueueState.__table__)
_CLAIM_WAITING_UNPAUSED = _CLAIM_WAITING.where(
    ~exists().where(_qs.c.name == bindparam("b_queue"), _qs.c.paused.is_(True))
)

_HEARTBEAT = (
    update(_jobs)
    .where(
        _c.id == bindparam("b_id"),
        _c.state == states.RUNNING,
        _c.attempts == bindparam("b_attempt"),
    )
    .values(heartbeat_at=_now)
)

_SAVE_PROGRESS = _HEARTBEAT.values(
    percent=bindparam("b_percent", type_=_c.percent.type),
    current=bindparam("b_current", type_=_c.current.type),
    total=bindparam("b_total", type_=_c.total.type),
    message=bindparam("b_message", type_=_c.message.type),
)


def _seed_row(session: Session, **kwargs: Any) -> Job:
    """The row of a job sent straight through Celery (the spec's `task.delay(...)`)."""
    job = add_job(session, **kwargs, project_key=kwargs["params"].get("project_id"))
    session.flush()
    return job


def claim_attempt(
    settings: Settings,
    *,
    job_id: str,
    task_name: str,
    params: dict[str, Any],
    queue: str,
    worker: str | None,
) -> Claim:
    """Decide, atomically, whether this delivery runs the job, and mark the attempt RUNNING.

    - QUEUED or RETRYING: a new attempt starts.
    - RUNNING with a fresh heartbeat: another worker is on it; this delivery is a duplicate.
    - RUNNING with a stale (or cleared) heartbeat: its worker was lost; a new attempt starts,
      unless workers were lost `worker_lost_limit` times in a row: then it is quarantined.
    - finished (or cancelled): nothing to do.
    - SCHEDULED and not yet due (a delivery that came early): nothing now; the beat sends the
      job again at its time.
    The row is changed with a compare-and-set on (state, attempts), so two deliveries of one
    job never both run it, on SQLite as on PostgreSQL.

    A waiting job (the common case) is claimed by one `UPDATE ... RETURNING`; every other case
    (duplicate, lost worker, finished, cancelled, no row yet) reads the row first.
    """
    now = utcnow()
    row = hot.run(
        settings, _CLAIM_WAITING, {"b_id": job_id, "b_now": now, "b_worker": worker}
    ).one_or_none()
    if row is not None:
        job_type, project_key, attempts = row
        reason = "new" if attempts == 1 else "retry"
        return Claim(True, reason, states.RUNNING, job_type, project_key, attempts)
    return _claim_read_first(
        settings, job_id=job_id, task_name=task_name, params=params, queue=queue, worker=worker
    )


def claim_unpaused(
    settings: Settings, *, job_id: str, queue: str, worker: str | None
) -> Claim | None:
    """The claim of a waiting job whose queue is not paused, or None (anything else): one
    statement for the gate and the claim of nearly every delivery."""
    params = {"b_id": job_id, "b_now": utcnow(), "b_worker": worker, "b_queue": queue}
    row = hot.run(settings, _CLAIM_WAITING_UNPAUSED, params).one_or_none()
    if row is None:
        return None
    job_type, project_key, attempts = row
    reason = "new" if attempts == 1 else "retry"
    return Claim(True, reason, states.RUNNING, job_type, project_key, attempts)


def _claim_read_first(
    settings: Settings,
    *,
    job_id: str,
    task_name: str,
    params: dict[str, Any],
    queue: str,
    worker: str | None,
) -> Claim:
    """`claim_attempt` for a job that was not simply waiting: read the row, then compare-and-set."""
    while True:
        with session_scope(settings) as session:
            job = session.get(Job, job_id) or _seed_row(
                session, job_id=job_id, task_name=task_name, params=params, queue=queue
            )
            now = utcnow()
            if job.state in states.FINISHED:
                return Claim.of(job, False, "finished")
            if job.state == states.SCHEDULED and job.run_at is not None and job.run_at > now:
                return Claim.of(job, False, "early")
            reason = "retry" if job.state == states.RETRYING else "new"
            lost = job.lost_count
            if job.state == states.RUNNING:
                stale = now - timedelta(seconds=settings.stale_after)
                if job.heartbeat_at is not None and job.heartbeat_at > stale:
                    return Claim.of(job, False, "duplicate")
                reason, lost = "lost", lost + 1
            values: dict[str, Any] = {
                "state": states.RUNNING,
                "attempts": job.attempts + 1,
                "lost_count": lost,
                "started_at": now,
                "heartbeat_at": now,
                "percent": 0,
                "current": 0,
                "message": "Started",
                "worker": worker,
                "error": None,
                "traceback": None,
                "next_retry_at": None,
            }
            if reason == "lost" and lost >= settings.worker_lost_limit:
                reason = "quarantined"
                values.update(
                    state=states.FAILURE,
                    attempts=job.attempts,
                    finished_at=now,
                    heartbeat_at=None,
                    error=f"worker lost repeatedly: its worker died {lost} times in a row "
                    "while running it; quarantined, not delivered again",
                    message="Quarantined: worker lost repeatedly",
                )
            done = session.execute(
                update(Job)
                .where(Job.id == job_id, Job.state == job.state, Job.attempts == job.attempts)
                .values(**values)
                .execution_options(synchronize_session=False)  # `job` is refreshed below
            )
            if done.rowcount != 1:  # type: ignore[attr-defined]
                continue  # another delivery got there first: look again
            session.expire(job)
            session.refresh(job)
            return Claim.of(job, reason != "quarantined", reason)


def heartbeat(settings: Settings, *, job_id: str, attempt: int) -> None:
    hot.run(settings, _HEARTBEAT, {"b_id": job_id, "b_attempt": attempt, "b_now": utcnow()})


def mark_lost(settings: Settings, *, job_id: str, why: str) -> Job | None:
    """Its worker process died: clear the heartbeat so the redelivery may claim it at once.
    The job as it now stands, or None when it was not running."""
    with session_scope(settings) as session:
        done = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.state == states.RUNNING)
            .values(heartbeat_at=None, message=f"Worker lost: {why}")
        )
        if not done.rowcount:  # type: ignore[attr-defined]
            return None
        add_log_line(session, job_id=job_id, level="ERROR", message=f"Worker lost: {why}")
        return session.get(Job, job_id)


def set_retrying(
    settings: Settings, *, job_id: str, attempt: int, error: str, delay: float
) -> None:
    with session_scope(settings) as session:
        done = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.attempts == attempt, Job.state == states.RUNNING)
            .values(
                state=states.RETRYING,
                next_retry_at=utcnow() + timedelta(seconds=delay),
                heartbeat_at=None,
                lost_count=0,
                error=error,
                message=f"Retrying in {delay:.1f}s after: {error}",
            )
        )
        if not done.rowcount:  # type: ignore[attr-defined]
            return  # cancelled (or taken over) meanwhile
        add_log_line(
            session,
            job_id=job_id,
            level="WARNING",
            message=f"Attempt {attempt} failed: {error}; retrying in {delay:.1f}s",
        )


def abandoned(settings: Settings, *, older_than: float, limit: int = 100) -> Sequence[Job]:
    """RUNNING jobs whose heartbeat stopped more than `older_than` seconds ago."""
    cutoff = utcnow() - timedelta(seconds=older_than)
    with session_scope(settings) as session:
        query = (
            select(Job)
            .where(
                Job.state == states.RUNNING,
                (Job.heartbeat_at.is_(None)) | (Job.heartbeat_at < cutoff),
            )
            .limit(limit)
        )
        return session.scalars(query).all()


def save_progress(
    settings: Settings,
    *,
    job_id: str,
    attempt: int,
    percent: int,
    current: int,
    total: int,
    message: str,
) -> None:
    hot.run(
        settings,
        _SAVE_PROGRESS,
        {
            "b_id": job_id,
            "b_attempt": attempt,
            "b_percent": percent,
            "b_current": current,
            "b_total": total,
            "b_message": message,
            "b_now": utcnow(),
        },
    )


def finish(
    settings: Settings,
    *,
    job_id: str,
    state: str,
    message: str,
    result: dict[str, Any] | None = None,
    error: str | None = None,
    traceback: str | None = None,
    progress: tuple[int, int, int] | None = None,
    attempt: int | None = None,
) -> bool:
    """Write the end state; False when a newer attempt owns the job (this one was abandoned)."""
    params: dict[str, Any] = {
        "b_id": job_id,
        "b_state": state,
        "b_message": message,
        "b_result": result,
        "b_error": error,
        "b_traceback": traceback,
        "b_now": utcnow(),
    }
    if progress is not None:
        params["b_percent"], params["b_current"], params["b_total"] = progress
    if attempt is not None:
        params["b_attempt"] = attempt
    done = hot.run(settings, _FINISH[attempt is not None, progress is not None], params)
    return bool(done.rowcount)


def _finish_statement(*, of_attempt: bool, with_progress: bool) -> Update:
    """The end-state UPDATE; `of_attempt`: only if that attempt still owns the job (RUNNING)."""
    query = update(_jobs).where(_c.id == bindparam("b_id"))
    if of_attempt:
        query = query.where(_c.attempts == bindparam("b_attempt"), _c.state == states.RUNNING)
    query = query.values(
        state=bindparam("b_state", type_=_c.state.type),
        message=bindparam("b_message", type_=_c.message.type),
        result=bindparam("b_result", type_=_c.result.type),
        error=bindparam("b_error", type_=_c.error.type),
        traceback=bindparam("b_traceback", type_=_c.traceback.type),
        finished_at=_now,
        heartbeat_at=None,
        next_retry_at=None,
    )
    if with_progress:
        query = query.values(
            percent=bindparam("b_percent", type_=_c.percent.type),
            current=bindparam("b_current", type_=_c.current.type),
            total=bindparam("b_total", type_=_c.total.type),
        )
    return query


_FINISH = {
    (of_attempt, with_progress): _finish_statement(
        of_attempt=of_attempt, with_progress=with_progress
    )
    for of_attempt in (False, True)
    for with_progress in (False, True)
}
