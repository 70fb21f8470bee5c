"""Queues: what each one holds (from the job table) and pausing it (docs/queues-and-workers.md).

The database row (`queue_states`) is the truth of a pause. Three things act on it:

- the API tells live workers at once (`tell_workers`: `cancel_consumer` on pause,
  `add_consumer` to the workers configured for the queue on resume);
- every worker reads the paused queues whenever its consumer (re)starts — at start and after a
  broker reconnect — and again every few seconds (`jobs.worker_hooks`), so a restarted worker, a
  restarted Redis or a worker that joins later does not consume a paused queue;
- the start gate: `JobTask` claims a delivery with an UPDATE that also asks that its queue is
  not paused (attempts.claim_unpaused); when that claims nothing it calls `hold_if_paused`: a
  job whose queue is paused when its delivery arrives does not start. It stays QUEUED (or
  RETRYING), is marked held, and its message is acknowledged, so nothing is redelivered in a
  loop; `release` (on resume) sends the held jobs again, oldest first.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import redis
from celery import Celery
from sqlalchemy import Table, bindparam, case, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from synapse.config import QUEUES, Settings
from synapse.db.engine import session_scope, statement_scope
from synapse.db.models import Job, QueueState, utcnow
from synapse.errors import NotFound
from synapse.jobs import events, states, store
from synapse.jobs.broker import queue_keys, waiting_ids
from synapse.jobs.lost import SCAN_LIMIT
from synapse.jobs.redis_client import get_redis
from synapse.jobs.service import task_call

log = logging.getLogger("synapse.jobs")

# The message of a job whose delivery the start gate held back (the job table's marker).
HELD = "Held: its queue is paused; it starts when the queue is resumed"
WAITING = (states.QUEUED, states.RETRYING)

_states = cast(Table, QueueState.__table__)
_PAUSED = select(_states.c.paused).where(_states.c.name == bindparam("b_name"))


@dataclass(frozen=True)
class QueueInfo:
    name: str
    paused: bool
    depth: int  # QUEUED jobs (held ones included)
    oldest_wait_seconds: float  # age of the oldest QUEUED job; 0 when none waits
    running: int
    retrying: int
    held: int
    scheduled: int  # SCHEDULED jobs of this queue (not yet due; the beat sends them on time)
    paused_at: datetime | None
    paused_by: str | None
    changed_at: datetime | None
    broker_depth: int | None  # messages in Redis for this queue; None when Redis did not answer


def check_name(name: str) -> str:
    if name not in QUEUES:
        raise NotFound(f"queue {name!r} not found; the queues are {', '.join(QUEUES)}")
    return name


def paused_queues(session: Session) -> set[str]:
    rows = session.scalars(select(QueueState.name).where(QueueState.paused.is_(True)))
    return set(rows)


def is_paused(settings: Settings, queue: str) -> bool:
    """One primary-key read (the start gate's closer look, and the re-check after a mark)."""
    with statement_scope(settings) as conn:
        return bool(conn.execute(_PAUSED, {"b_name": queue}).scalar())


def set_paused(session: Session, *, name: str, paused: bool, by: str) -> tuple[QueueState, bool]:
    """Pause or resume a queue in the caller's transaction; idempotent. Answers the row and
    whether it changed."""
    check_name(name)
    row = session.get(QueueState, name, with_for_update=True)
    if row is None:  # the first change of this queue: two at once must not collide
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        session.execute(
            insert(QueueState)
            .values(name=name, paused=False, changed_at=utcnow(), changed_by=None)
            .on_conflict_do_nothing(index_elements=["name"])
        )
        row = session.get(QueueState, name, with_for_update=True)
        assert row is not None
    changed = bool(row.paused) != paused
    if changed:
        row.paused = paused
        row.changed_at = utcnow()
        row.changed_by = by
    session.flush()
    return row, changed


# -- what each queue holds ---------------------------------------------------------------------


def _broker_depths(settings: Settings) -> dict[str, int] | None:
    try:
        pipe = get_redis(settings).pipeline(transaction=False)
        for queue in QUEUES:
            for key in queue_keys(settings, queue):
                pipe.llen(key)
        replies = pipe.execute()
    except Exception as exc:  # Redis is away: the job table still answers
        log.warning("cannot read the queue lengths in Redis: %s", exc)
        return None
    steps = len(replies) // len(QUEUES)
    return {q: sum(replies[i * steps : (i + 1) * steps]) for i, q in enumerate(QUEUES)}


def _aware(value: datetime | str) -> datetime:
    if isinstance(value, str):  # in case an aggregate bypasses the column type
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def queue_stats(
    session: Session, settings: Settings | None = None, *, now: datetime | None = None
) -> list[QueueInfo]:
    """Every queue, from the job table: one grouped read of the live jobs (the index on
    `(state, created_at)` keeps it cheap whatever the history holds)."""
    now = now or utcnow()
    rows = session.execute(
        select(
            Job.queue,
            Job.state,
            func.count(),
            func.min(Job.created_at),
            func.sum(case((Job.message == HELD, 1), else_=0)),
        )
        .where(Job.state.in_([states.SCHEDULED, states.QUEUED, states.RUNNING, states.RETRYING]))
        .group_by(Job.queue, Job.state)
    ).all()
    counts: dict[tuple[str, str], int] = {}
    oldest: dict[str, datetime] = {}
    held: dict[str, int] = {}
    for queue, state, count, first, held_count in rows:
        counts[(queue, state)] = int(count)
        if state == states.QUEUED and first is not None:
            oldest[queue] = _aware(first)
        held[queue] = held.get(queue, 0) + int(held_count or 0)
    saved = {row.name: row for row in session.scalars(select(QueueState))}
    depths = _broker_depths(settings) if settings is not None else None
    items = []
    for name in QUEUES:
        row = saved.get(name)
        paused = bool(row and row.paused)
        first = oldest.get(name)
        items.append(
            QueueInfo(
                name=name,
                paused=paused,
                depth=counts.get((name, states.QUEUED), 0),
                oldest_wait_seconds=max(0.0, (now - first).total_seconds()) if first else 0.0,
                running=counts.get((name, states.RUNNING), 0),
                retrying=counts.get((name, states.RETRYING), 0),
                held=held.get(name, 0),
                scheduled=counts.get((name, states.SCHEDULED), 0),
                paused_at=row.changed_at if row and paused else None,
                paused_by=row.changed_by if row and paused else None,
                changed_at=row.changed_at if row else None,
                broker_depth=depths.get(name) if depths is not None else None,
            )
        )
    return items


def as_dict(info: QueueInfo) -> dict[str, Any]:
    return {
        "name": info.name,
        "paused": info.paused,
        "depth": info.depth,
        "oldest_wait_seconds": round(info.oldest_wait_seconds, 3),
        "running": info.running,
        "retrying": info.retrying,
        "held": info.held,
        "scheduled": info.scheduled,
        "paused_at": info.paused_at,
        "paused_by": info.paused_by,
        "changed_at": info.changed_at,
        "broker_depth": info.broker_depth,
    }


# -- the start gate and the release ------------------------------------------------------------


def hold_if_paused(
    settings: Settings, *, job_id: str, queue: str, task_name: str, params: dict[str, Any]
) -> bool:
    """True when this delivery must not start because its queue is paused.

    The job is marked held (QUEUED or RETRYING stays as it is) and the caller acknowledges the
    message; `release` sends it again on resume. A job that is running, finished or cancelled is
    left to the claim, as is every job of a queue that is not paused. The pause is read again
    after the mark: a resume that came in between either sees the mark (and sends the job) or
    is seen here (and the job runs now).
    """
    if not is_paused(settings, queue):
        return False
    with session_scope(settings) as session:
        job = session.get(Job, job_id)
        if job is None:  # sent straight through Celery: its row is made here, held
            job = store.add_job(
                session,
                job_id=job_id,
                task_name=task_name,
                params=params,
                queue=queue,
                project_key=params.get("project_id"),
            )
        elif job.state not in WAITING:
            return False
        first = job.message != HELD
        job.message = HELD
        if first:
            store.add_log_line(
                session,
                job_id=job_id,
                level="INFO",
                message=f"Held: the {queue} queue is paused; it starts when the queue is resumed",
            )
    if not is_paused(settings, queue):
        _unmark([job_id], settings)
        return False
    if first:
        events.publish_log(settings, job, "INFO", f"Held: the {queue} queue is paused")
    return True


def _unmark(ids: Iterable[str], settings: Settings) -> None:
    jobs = cast(Table, Job.__table__)
    with session_scope(settings) as session:
        session.execute(
            update(jobs)
            .where(jobs.c.id.in_(list(ids)), jobs.c.message == HELD)
            .values(message="Queued")
        )


def _in_redis(settings: Settings, name: str) -> set[str]:
    """Ids whose message is in the queue's lists already (the abandoned-job sweep may have sent a
    held job again meanwhile); empty when the queue is too long to read."""
    try:
        return waiting_ids(get_redis(settings), settings, name, limit=SCAN_LIMIT) or set()
    except redis.RedisError:
        return set()


def release(settings: Settings, celery: Celery, *, name: str, limit: int = 10_000) -> int:
    """Send again the held jobs of a queue that is no longer paused, oldest first."""
    check_name(name)
    present = _in_redis(settings, name)
    sent = 0
    while True:
        with session_scope(settings) as session:
            held = session.scalars(
                select(Job)
                .where(Job.state.in_(WAITING), Job.queue == name, Job.message == HELD)
                .order_by(Job.created_at)
                .limit(500)
            ).all()
        if not held:
            return sent
        for job in held:
            if job.id in present:
                continue
            args, kwargs = task_call(job.params)
            celery.send_task(job.type, args=args, kwargs=kwargs, task_id=job.id, queue=job.queue)
        _unmark([job.id for job in held], settings)
        with session_scope(settings) as session:
            for job in held:
                store.add_log_line(
                    session,
                    job_id=job.id,
                    level="INFO",
                    message=f"Sent again: the {name} queue was resumed",
                )
        sent += len(held)
        if sent >= limit:
            return sent


def tell_workers(celery: Celery, *, name: str, paused: bool, workers: Iterable[Any]) -> None:
    """Tell live workers at once (the database is the truth; workers also read it by
    themselves every few seconds, so a worker that misses this still follows)."""
    try:
        if paused:
            celery.control.cancel_consumer(name, reply=False)
            return
        for worker in workers:
            if name in worker.configured_queues and name not in worker.queues:
                celery.control.add_consumer(name, destination=[worker.name], reply=False)
    except Exception as exc:  # the broker is away: the workers catch up from the database
        log.warning("could not tell the workers that %s is %s: %s", name, paused, exc)
