"""Scheduled jobs: submitted with `run_at` / `delay_seconds`, SCHEDULED until their time.

A scheduled job is a row in the job table, never a message held in a worker's memory (Celery's
ETA/countdown would be lost with the worker that holds it). The one beat that holds the beat lock
(maintenance/beatlock.py) calls `release_due` a few times a second and sleeps no longer than until
the next job is due, so a job is sent to its queue within a fraction of a second of its time:

1. read the due SCHEDULED jobs (`run_at <= now`, the index on (state, run_at)), oldest first;
2. send each one's task (task id = job id, its own queue);
3. mark them QUEUED (only those still SCHEDULED: a cancel in between wins).

A crash between 2 and 3 leaves a job SCHEDULED with its message sent: the next beat sends it
again, and the claim (jobs/attempts.py) runs it once; the second delivery finds it running or
finished. The claim also accepts a SCHEDULED job whose time has come (its delivery may beat the
mark), and never one whose time has not: a delivery that arrives early runs nothing, and the
beat sends the job again on time. So a restart loses none, runs none twice and none early.

A job released more than `SYNAPSE_SCHEDULE_MISSED_AFTER` (10) seconds after its time was
missed: the system (or its beat) was down then. It runs at once, with a warning in its log, a
live event and a `schedule.missed` webhook delivery.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from celery import Celery
from sqlalchemy import Table, bindparam, func, insert, select, update

from synapse.config import Settings
from synapse.db.engine import session_scope, statement_scope
from synapse.db.models import Job, JobLog, utcnow
from synapse.errors import InvalidInput
from synapse.jobs import events, states

log = logging.getLogger("synapse.beat")

MAX_AHEAD = timedelta(days=366)  # a job scheduled further ahead is almost surely a typo
MAX_DELAY_SECONDS = int(MAX_AHEAD.total_seconds())
POLL_SECONDS = 0.25  # the beat looks at least this often (a job submitted for "now + 1 s")
BATCH = 500

_jobs = cast(Table, Job.__table__)
_c = _jobs.c
_DUE = (
    select(_c.id, _c.type, _c.params, _c.queue, _c.project_key, _c.run_at)
    .where(_c.state == states.SCHEDULED, _c.run_at <= bindparam("b_now", type_=_c.run_at.type))
    .order_by(_c.run_at)
    .limit(bindparam("b_limit"))
)
_NEXT = select(func.min(_c.run_at)).where(_c.state == states.SCHEDULED)


def due_time(
    *, run_at: datetime | None, delay_seconds: float | None, now: datetime | None = None
) -> datetime | None:
    """When a job asked for `run_at` or `delay_seconds` is due; None: queue it now.

    `run_at` needs its offset (a time without one is ambiguous); either one, not both; at most
    `MAX_AHEAD` ahead. A time already past queues the job at once."""
    if run_at is not None and delay_seconds is not None:
        raise InvalidInput("give run_at or delay_seconds, not both")
    now = now or utcnow()
    if delay_seconds is not None:
        if not 0 <= delay_seconds <= MAX_DELAY_SECONDS:
            raise InvalidInput(
                f"delay_seconds must be between 0 and {MAX_DELAY_SECONDS}, not {delay_seconds}"
            )
        return now + timedelta(seconds=delay_seconds) if delay_seconds > 0 else None
    if run_at is None:
        return None
    if run_at.tzinfo is None or run_at.utcoffset() is None:
        raise InvalidInput("run_at needs its UTC offset (ISO 8601, e.g. 2026-12-01T18:00:00+01:00)")
    if run_at - now > MAX_AHEAD:
        raise InvalidInput(f"run_at {run_at.isoformat()} is more than 366 days ahead")
    return run_at if run_at > now else None


def scheduled_message(run_at: datetime) -> str:
    return f"Scheduled for {run_at.isoformat(timespec='seconds')}"


@dataclass(frozen=True)
class Released:
    sent: int
    missed: int


def next_due(settings: Settings) -> datetime | None:
    """The time of the next SCHEDULED job (one index read), None when none waits."""
    with statement_scope(settings) as conn:
        value: datetime | None = conn.execute(_NEXT).scalar()  # min() keeps the column's type
    return value


def release_due(
    settings: Settings, celery: Celery, *, now: datetime | None = None, limit: int = 10_000
) -> Released:
    """Send every due SCHEDULED job to its queue, then mark it QUEUED (see the module's text).
    If the broker refuses, what was not sent stays SCHEDULED for the next call."""
    sent = missed = 0
    while sent < limit:
        now = utcnow() if sent or now is None else now
        with statement_scope(settings) as conn:
            rows = conn.execute(_DUE, {"b_now": now, "b_limit": min(BATCH, limit - sent)}).all()
        if not rows:
            break
        done: list[Any] = []
        try:
            for row in rows:
                args, kwargs = _task_call(row.params)
                celery.send_task(
                    row.type, args=args, kwargs=kwargs, task_id=row.id, queue=row.queue
                )
                done.append(row)
        finally:
            if done:
                missed += _mark_queued(settings, done, now)
                sent += len(done)
        if len(rows) < BATCH:
            break
    return Released(sent, missed)


def _task_call(params: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    from synapse.jobs.service import task_call  # service imports this module

    return task_call(params)


def _late(row: Any, now: datetime) -> float:
    run_at: datetime = row.run_at
    return max(0.0, (now - run_at).total_seconds())


def _mark_queued(settings: Settings, rows: list[Any], now: datetime) -> int:
    """QUEUED (those still SCHEDULED), a log line each; a missed one also warns and tells its
    webhooks. The number of missed jobs."""
    late = [row for row in rows if _late(row, now) > settings.schedule_missed_after]
    late_ids = {row.id for row in late}
    with session_scope(settings) as session:
        session.execute(
            update(_jobs)
            .where(_c.id.in_([row.id for row in rows]), _c.state == states.SCHEDULED)
            .values(state=states.QUEUED, message="Queued")
        )
        lines = [
            {
                "job_id": row.id,
                "at": now,
                "level": "WARNING" if row.id in late_ids else "INFO",
                "message": _release_line(row, now, missed=row.id in late_ids),
            }
            for row in rows
        ]
        session.execute(insert(JobLog), lines)
    for row in rows:
        _publish(settings, row, now, missed=row.id in late_ids)
    for row in late:
        _tell_webhooks(settings, row, now)
    return len(late)


def _release_line(row: Any, now: datetime, *, missed: bool) -> str:
    due = row.run_at.isoformat(timespec="seconds")
    late = _late(row, now)
    if missed:
        return (
            f"Missed its time ({due}) by {late:.0f} s: the scheduler was not running then; "
            f"queued on {row.queue} at once"
        )
    return f"Due at {due}: queued on {row.queue}"


def _publish(settings: Settings, row: Any, now: datetime, *, missed: bool) -> None:
    event = events.job_event(
        job_id=row.id,
        action_type=events.STATE,
        message=_release_line(row, now, missed=missed),
        state=states.QUEUED,
        percent=0,
        level="WARNING" if missed else "INFO",
        job_type=row.type,
        project_id=row.project_key,
        extra={"queue": row.queue, "run_at": row.run_at.isoformat(), "missed": missed},
    )
    events.publish(settings, event)


def _tell_webhooks(settings: Settings, row: Any, now: datetime) -> None:
    from synapse.webhooks import service  # only for the rare missed job

    try:
        service.emit(
            settings,
            event="schedule.missed",
            data={
                "job_id": row.id,
                "job_type": row.type,
                "project_id": row.project_key,
                "run_at": row.run_at.isoformat(),
                "queued_at": now.isoformat(),
                "late_seconds": round(_late(row, now), 1),
                "url": f"/api/v1/jobs/{row.id}",
            },
            dedupe=f"schedule.missed:job:{row.id}",
            project_key=row.project_key,
            job_id=row.id,
        )
    except Exception:  # a webhook never holds up the release
        log.exception("could not record schedule.missed for job %s", row.id)


def wait_until_next(settings: Settings, *, now: datetime | None = None) -> float:
    """Seconds the beat may sleep before it looks again: until the next due job, at most
    `POLL_SECONDS` (a job submitted meanwhile may be due sooner)."""
    upcoming = next_due(settings)
    if upcoming is None:
        return POLL_SECONDS
    now = now or utcnow()
    return min(POLL_SECONDS, max(0.0, (upcoming - now).total_seconds()))
