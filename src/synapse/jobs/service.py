"""Submitting, cancelling and retrying jobs: what the API and the CLI call."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from celery import Celery

from synapse import audit, idempotency
from synapse.config import QUEUES, Settings
from synapse.db.engine import session_scope
from synapse.db.models import Job
from synapse.errors import Conflict, InvalidInput, NotFound, TransientError
from synapse.jobs import attempts, events, scheduled, states, store
from synapse.jobs.redis_client import cancel_key, get_redis

log = logging.getLogger(__name__)

CANCEL_FLAG_TTL = 7 * 24 * 3600


def task_call(params: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    """The positional and keyword arguments of a job's task, from its stored parameters."""
    kwargs = dict(params)
    args = list(kwargs.pop("args", []))
    if args and kwargs.get("project_id") == args[0]:
        kwargs.pop("project_id")  # added for display when the task took it positionally
    return args, kwargs


def check_queue(queue: str) -> str:
    if queue not in QUEUES:
        raise InvalidInput(f"priority must be one of {', '.join(QUEUES)}, not {queue!r}")
    return queue


def _state_event(settings: Settings, job: Job, message: str, level: str = "INFO") -> None:
    event = events.for_job(
        job, action_type=events.STATE, message=message, level=level, extra={"queue": job.queue}
    )
    events.publish(settings, event)


def submit_job(
    *,
    settings: Settings,
    celery: Celery,
    task_name: str,
    params: dict[str, Any],
    queue: str = "default",
    project_key: str | None = None,
    submitted_by: str | None = None,
    retry_of: str | None = None,
    job_id: str | None = None,
    audit_entry: dict[str, Any] | None = None,
    run_at: datetime | None = None,
) -> Job:
    """Write the job row (QUEUED), then send the Celery task with the same id. `audit_entry`
    (the keywords of `audit.record` but the session) lands in the row's transaction.

    With `run_at` (from `scheduled.due_time`: a time still ahead) the row is SCHEDULED and
    nothing is sent: the beat sends it at its time (jobs/scheduled.py)."""
    check_queue(queue)
    job_id = job_id or str(uuid.uuid4())
    with session_scope(settings) as session:
        job = store.add_job(
            session,
            job_id=job_id,
            task_name=task_name,
            params=params,
            queue=queue,
            project_key=project_key,
            submitted_by=submitted_by,
            retry_of=retry_of,
            state=states.QUEUED if run_at is None else states.SCHEDULED,
            run_at=run_at,
            message=scheduled.scheduled_message(run_at) if run_at is not None else "Queued",
        )
        if audit_entry is not None:
            audit.record(session, **audit_entry)
        idempotency.link_job(session, job.id)  # a no-op outside a request with a key
    if run_at is not None:
        _state_event(settings, job, f"{job.type} {scheduled.scheduled_message(run_at).lower()}")
        return job
    send_queued(settings, celery, job)
    return job


def send_queued(settings: Settings, celery: Celery, job: Job) -> None:
    """Send the Celery task of a job row just written (QUEUED); if the broker refuses, the job
    fails ("could not queue the job") and TransientError says so."""
    try:
        args, kwargs = task_call(job.params)
        celery.send_task(job.type, args=args, kwargs=kwargs, task_id=job.id, queue=job.queue)
    except Exception as exc:  # the broker is down: say so instead of leaving a job that never runs
        attempts.finish(
            settings,
            job_id=job.id,
            state=states.FAILURE,
            message="Could not be queued",
            error=f"could not queue the job: {exc}",
        )
        raise TransientError(f"the job queue is unavailable: {exc}") from exc
    _state_event(settings, job, f"{job.type} queued on {job.queue}")


def get_job(settings: Settings, job_id: str) -> Job:
    with session_scope(settings) as session:
        job = store.get_job(session, job_id)
    if job is None:
        raise NotFound(f"job {job_id} not found")
    return job


def cancel_job(
    *, settings: Settings, job_id: str, by: str | None = None, client: str | None = None
) -> Job:
    """A queued job (or one waiting to retry) never starts; a running one stops at its next
    checkpoint. With `by`, the cancel is in the audit trail (same transaction)."""
    with session_scope(settings) as session:
        job = store.get_job(session, job_id)
        if job is None:
            raise NotFound(f"job {job_id} not found")
        if job.state in states.FINISHED:
            raise Conflict(
                f"job {job_id} is already {job.state}; only queued or running jobs cancel"
            )
        who = f" by {by}" if by else ""
        if store.cancel_queued(session, job_id):
            store.add_log_line(session, job_id=job_id, level="WARNING", message=f"Cancelled{who}")
        else:
            store.add_log_line(
                session, job_id=job_id, level="WARNING", message=f"Cancel requested{who}"
            )
        if by:
            detail = {"type": job.type, "state": job.state, "project_id": job.project_key}
            audit.record(
                session, actor=by, action="job.cancel", target=job_id, detail=detail, client=client
            )
    # The flag also stops a queued job that a worker picks up in this very moment.
    get_redis(settings).set(cancel_key(settings, job_id), "1", ex=CANCEL_FLAG_TTL)
    job = get_job(settings, job_id)
    _state_event(
        settings, job, "Cancelled" if job.state == states.CANCELLED else "Cancel requested"
    )
    return job


def retry_job(
    *,
    settings: Settings,
    celery: Celery,
    job_id: str,
    by: str | None = None,
    changes: dict[str, Any] | None = None,
    client: str | None = None,
    run_at: datetime | None = None,
) -> Job:
    """A new job with the same parameters (but `changes`, which the job must already take);
    the old one stays as it was. With `by`, the retry is in the audit trail."""
    old = get_job(settings, job_id)
    if old.state not in (states.FAILURE, states.CANCELLED):
        raise Conflict(f"job {job_id} is {old.state}; only failed or cancelled jobs can be retried")
    unknown = sorted(set(changes or {}) - set(old.params))
    if unknown:
        raise InvalidInput(f"a {old.type} job has no parameter {', '.join(unknown)} to change")
    new_id = str(uuid.uuid4())
    entry = None
    if by:
        detail: dict[str, Any] = {"new_job_id": new_id, "type": old.type}
        if changes:
            detail["changes"] = changes
        entry = {
            "actor": by,
            "action": "job.retry",
            "target": job_id,
            "detail": detail | {"project_id": old.project_key},
            "client": client,
        }
    return submit_job(
        settings=settings,
        celery=celery,
        task_name=old.type,
        params=dict(old.params) | (changes or {}),
        queue=old.queue,
        project_key=old.project_key,
        submitted_by=by,
        retry_of=old.id,
        job_id=new_id,
        audit_entry=entry,
        run_at=run_at,
    )
