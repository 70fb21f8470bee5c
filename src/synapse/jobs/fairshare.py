"""Fair share across projects (docs/fair-share.md): no project holds more than
`SYNAPSE_PROJECT_CONCURRENCY` worker slots at once.

Optimistic and lock-free, on SQLite as on PostgreSQL:

- the gate (`admit`, called by `JobTask` right after a successful claim of a job that has a
  project): count the project's live RUNNING jobs, this one included; above the limit, the job
  steps back: one compare-and-set UPDATE puts it back to QUEUED (or RETRYING) with its attempt
  undone and the marker message `Waiting: project X is at its limit of N slots`, and the
  delivery is acknowledged, so it holds no place in the broker's queue;
- the release (`release`): whenever a slot of a project may have freed — a job of it ended
  (any end state, retry included), a job of it stepped back, or the periodic sweep of every
  worker (`sweep`, for lost workers and anything missed) — the project's waiting jobs are sent
  again, urgent queue first then oldest, as many as it has free slots. Each is taken with a
  compare-and-set on its marker, so two releases never send one job twice.

Why no job ever runs beyond the limit: every job counts after its own claim committed, and
steps back when it sees more than the limit. Take the last of any `limit + 1` jobs that decided
to run: its count came after every other one's claim had committed, and none of them stepped
back, so it saw `limit + 1` and stepped back itself. (Ranking the RUNNING jobs by start time
would not do: two workers' clocks and commits need not come in the same order.) Two jobs that
claim together may both step back; the last of them to step back sees the free slot and sends
the oldest waiting job again.

Jobs without a project are never limited and cost nothing here (`JobTask` skips the gate).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol, cast

import redis
from sqlalchemy import Table, bindparam, case, func, or_, select, update

from synapse.config import QUEUES, Settings
from synapse.db.engine import session_scope, statement_scope
from synapse.db.models import Job, QueueState, utcnow
from synapse.jobs import events, states, store
from synapse.jobs.broker import waiting_ids
from synapse.jobs.project_limit import forget_limit as forget_limit
from synapse.jobs.project_limit import project_limit
from synapse.jobs.redis_client import get_redis

log = logging.getLogger("synapse.jobs")

# The marker of a job that stepped back (its message was acknowledged: only a release sends it
# again), and the marker of one a release sent again (its message is on its way to a worker).
WAITING_PREFIX = "Waiting: project "
SENT_PREFIX = "Queued: sent again, project "
WAITING = (states.QUEUED, states.RETRYING)
SWEEP_SECONDS = 10.0  # a worker's safety sweep runs at most this often
RELEASE_BATCH = 200


class Sender(Protocol):
    """What a release needs of Celery (`Celery.send_task`)."""

    def send_task(self, name: str, *args: Any, **kwargs: Any) -> Any: ...


def waiting_message(project_key: str, limit: int) -> str:
    return f"{WAITING_PREFIX}{project_key} is at its limit of {limit} slot{'s' * (limit != 1)}"


def sent_message(project_key: str) -> str:
    return f"{SENT_PREFIX}{project_key} has a free slot"


def is_waiting(message: str | None) -> bool:
    """The job waits for its project's share (not for a paused queue)."""
    return bool(message) and str(message).startswith(WAITING_PREFIX)


# -- the statements ----------------------------------------------------------------------------

_jobs = cast(Table, Job.__table__)
_c = _jobs.c

# A project's live RUNNING jobs: a job whose heartbeat went stale (or was cleared: its worker
# died) holds no slot any more. The only query a project job's start adds.
_COUNT_RUNNING = (
    select(func.count())
    .select_from(_jobs)
    .where(
        _c.project_key == bindparam("b_project"),
        _c.state == states.RUNNING,
        _c.heartbeat_at > bindparam("b_since", type_=_c.heartbeat_at.type),
    )
)

# Back to waiting, only while this attempt still owns the job: QUEUED before a first attempt,
# RETRYING after one (what the claim's compare-and-set expects of a waiting job).
_STEP_BACK = (
    update(_jobs)
    .where(
        _c.id == bindparam("b_id"),
        _c.state == states.RUNNING,
        _c.attempts == bindparam("b_attempt"),
    )
    .values(
        state=case((_c.attempts > 1, states.RETRYING), else_=states.QUEUED),
        attempts=_c.attempts - 1,
        started_at=None,
        heartbeat_at=None,
        worker=None,
        percent=0,
        current=0,
        next_retry_at=None,
        message=bindparam("b_message", type_=_c.message.type),
    )
)

# The release takes a waiting job by its marker: of two releases, one sends it.
_TAKE = (
    update(_jobs)
    .where(
        _c.id == bindparam("b_id"),
        _c.state.in_(WAITING),
        _c.message.startswith(WAITING_PREFIX, autoescape=True),
    )
    .values(message=bindparam("b_message", type_=_c.message.type))
)

_QUEUE_ORDER = case({name: rank for rank, name in enumerate(QUEUES)}, value=_c.queue, else_=99)


def running_count(settings: Settings, project_key: str) -> int:
    since = utcnow() - timedelta(seconds=settings.stale_after)
    with statement_scope(settings) as conn:
        found = conn.execute(_COUNT_RUNNING, {"b_project": project_key, "b_since": since})
        return int(found.one()[0])


# -- the gate ----------------------------------------------------------------------------------


def admit(
    settings: Settings, celery: Sender, *, job_id: str, project_key: str, attempt: int
) -> bool:
    """After the claim of attempt `attempt`: True when the job may run; False when it stepped
    back to wait for a slot of its project (the caller acknowledges the delivery)."""
    limit = project_limit(settings)
    if running_count(settings, project_key) <= limit:
        return True
    step_back(settings, job_id=job_id, project_key=project_key, attempt=attempt, limit=limit)
    # A job of the project may have ended between the count and the step back, and seen this
    # one still RUNNING: count again, now that this one is waiting, and release if a slot is
    # free (when none is, the jobs that hold them release as they end).
    try:
        if running_count(settings, project_key) < limit:
            release(settings, celery, project_key=project_key, limit=limit)
    except Exception as exc:  # the sweep looks again within seconds
        log.warning("could not release the waiting jobs of project %s: %s", project_key, exc)
    return False


def step_back(
    settings: Settings, *, job_id: str, project_key: str, attempt: int, limit: int
) -> bool:
    """Return the job to waiting with its attempt undone; False if the attempt no longer
    owned it."""
    text = waiting_message(project_key, limit)
    with session_scope(settings) as session:
        done = session.execute(
            _STEP_BACK, {"b_id": job_id, "b_attempt": attempt, "b_message": text}
        )
        if not done.rowcount:  # type: ignore[attr-defined]
            return False
        store.add_log_line(session, job_id=job_id, level="INFO", message=text)
        job = session.get(Job, job_id)
    hint(settings, project_key, waiting=True)
    log.info("job %s stepped back: project %s is at its limit of %d", job_id, project_key, limit)
    if job is not None:
        events.publish(settings, events.for_job(job, action_type=events.STATE, message=text))
    return True


# -- the release -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Waiting:
    id: str
    type: str
    params: dict[str, Any]
    queue: str
    state: str
    attempts: int


def _free_and_waiting(
    settings: Settings, project_key: str, limit: int
) -> tuple[int, Sequence[_Waiting]]:
    """The project's free slots (limit - live RUNNING - sent again and not yet started) and
    its first waiting jobs, urgent queue first, then oldest, paused queues left out: as many as
    it has free slots, and one more (so the caller knows whether any is left waiting)."""
    since = utcnow() - timedelta(seconds=settings.stale_after)
    with session_scope(settings) as session:
        running = session.execute(
            _COUNT_RUNNING, {"b_project": project_key, "b_since": since}
        ).one()[0]
        sent = session.scalar(
            select(func.count())
            .select_from(_jobs)
            .where(
                _c.project_key == project_key,
                _c.state.in_(WAITING),
                _c.message.startswith(SENT_PREFIX, autoescape=True),
            )
        )
        free = max(0, limit - int(running) - int(sent or 0))
        paused = select(QueueState.name).where(QueueState.paused.is_(True))
        rows = session.execute(
            select(_c.id, _c.type, _c.params, _c.queue, _c.state, _c.attempts)
            .where(
                _c.project_key == project_key,
                _c.state.in_(WAITING),
                _c.message.startswith(WAITING_PREFIX, autoescape=True),
                _c.queue.not_in(paused),
            )
            .order_by(_QUEUE_ORDER, _c.created_at, _c.id)
            .limit(min(free, RELEASE_BATCH) + 1)
        ).all()
    return free, [_Waiting(*row) for row in rows]


def _in_redis(settings: Settings, queue: str) -> set[str]:
    """Ids whose message waits in the queue already (sent by another path meanwhile)."""
    from synapse.jobs.lost import SCAN_LIMIT

    try:
        return waiting_ids(get_redis(settings), settings, queue, limit=SCAN_LIMIT) or set()
    except redis.RedisError:
        return set()


def release(
    settings: Settings, celery: Sender, *, project_key: str, limit: int | None = None
) -> int:
    """Send again the project's waiting jobs, as many as it has free slots. Answers how many."""
    from synapse.jobs.service import task_call

    limit = project_limit(settings) if limit is None else limit
    # The hint is cleared before the look and set again if a job is left waiting: a job that
    # steps back after the look sets it after its step-back committed, so after this clear.
    hint(settings, project_key, waiting=False)
    free, candidates = _free_and_waiting(settings, project_key, limit)
    if len(candidates) > free:
        hint(settings, project_key, waiting=True)
    present: dict[str, set[str]] = {}
    sent = 0
    text = sent_message(project_key)
    for job in candidates[:free]:
        if job.queue not in present:
            present[job.queue] = _in_redis(settings, job.queue)
        with statement_scope(settings) as conn:
            taken = conn.execute(_TAKE, {"b_id": job.id, "b_message": text}).rowcount
        if not taken:  # another release (or a cancel) got there first
            continue
        if job.id not in present[job.queue]:
            args, kwargs = task_call(job.params)
            retries = job.attempts if job.state == states.RETRYING else 0
            celery.send_task(
                job.type,
                args=args,
                kwargs=kwargs,
                task_id=job.id,
                queue=job.queue,
                retries=retries,
            )
        sent += 1
    if sent:
        log.info("project %s: %d waiting job(s) sent again (%d free)", project_key, sent, free)
    return sent


def slot_freed(settings: Settings, celery: Sender, *, project_key: str | None) -> None:
    """A job of the project ended (or left RUNNING): its waiting jobs may go. Never raises
    (the sweep catches up)."""
    if not project_key:
        return
    try:
        if may_be_waiting(settings, project_key):
            release(settings, celery, project_key=project_key)
    except Exception as exc:
        log.warning("could not release the waiting jobs of project %s: %s", project_key, exc)


# -- the hint: does a project have waiting jobs? ----------------------------------------------
# One Redis key per project, set by every step-back and kept by the release while jobs wait,
# so that the end of a project's job costs one EXISTS, not a database look, when none waits.
# A hint lost with Redis only delays a release until the sweep, which reads the database.


def hint_key(settings: Settings, project_key: str) -> str:
    return f"{settings.redis_prefix}:fairshare:waiting:{project_key}"


def hint(settings: Settings, project_key: str, *, waiting: bool) -> None:
    try:
        client = get_redis(settings)
        if waiting:
            client.set(hint_key(settings, project_key), "1")
        else:
            client.delete(hint_key(settings, project_key))
    except redis.RedisError as exc:
        log.warning("fair share: could not update the hint of project %s: %s", project_key, exc)


def may_be_waiting(settings: Settings, project_key: str) -> bool:
    try:
        return bool(get_redis(settings).exists(hint_key(settings, project_key)))
    except redis.RedisError:
        return True  # Redis is away: look in the database


def waiting_projects(settings: Settings) -> list[str]:
    with session_scope(settings) as session:
        rows = session.scalars(
            select(_c.project_key)
            .where(
                _c.state.in_(WAITING),
                _c.message.startswith(WAITING_PREFIX, autoescape=True),
                _c.project_key.is_not(None),
            )
            .distinct()
        ).all()
    return sorted(str(row) for row in rows)


def sweep(settings: Settings, celery: Sender) -> int:
    """Release every project that has waiting jobs and free slots (lost workers, a release
    missed while the database or Redis was away): nothing waits for ever."""
    sent = 0
    for project_key in waiting_projects(settings):
        sent += release(settings, celery, project_key=project_key)
    return sent


# -- helpers of a running job (package chunks) -------------------------------------------------


def helper_may_run(settings: Settings, project_key: str | None) -> bool:
    """May a helper task of a running job of this project (a package's PDF chunk) take a slot
    of its own? While the project's jobs hold fewer slots than its limit, yes; at the limit,
    only while no other job waits for a slot (a free slot is not left idle; a chunk lasts a
    second or so, so a job that comes meanwhile waits at most that long). Otherwise the job
    does that work itself (docs/fair-share.md)."""
    if not project_key:
        return True
    if running_count(settings, project_key) < project_limit(settings):
        return True
    with statement_scope(settings) as conn:
        return conn.execute(_OTHERS_WAITING, {"b_project": project_key}).first() is None


# A job of another project (or of none) that waits for a slot: QUEUED, not waiting for its own
# project's share, not in a paused queue.
_OTHERS_WAITING = (
    select(_c.id)
    .where(
        _c.state == states.QUEUED,
        or_(_c.project_key.is_(None), _c.project_key != bindparam("b_project")),
        ~_c.message.startswith(WAITING_PREFIX, autoescape=True),
        _c.queue.not_in(select(QueueState.name).where(QueueState.paused.is_(True))),
    )
    .limit(1)
)
