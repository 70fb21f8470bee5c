"""What the API, the pages and the CLI call: the schedule's state, running an entry now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from celery import Celery
from sqlalchemy.orm import Session

from synapse.config import Settings
from synapse.db.models import Job
from synapse.errors import InvalidInput
from synapse.jobs.service import submit_job
from synapse.maintenance.beatlock import BeatStatus, beat_status
from synapse.maintenance.schedule import BACKUP_TASK, Entry, find, status


@dataclass(frozen=True)
class ScheduleState:
    entries: list[Entry]
    beat: BeatStatus
    timezone: str


def schedule_state(
    settings: Settings, session: Session, now: datetime | None = None
) -> ScheduleState:
    beat = beat_status(settings)
    entries = status(settings, session, watched_since=beat.since, sent=beat.sent, now=now)
    return ScheduleState(entries, beat, settings.timezone)


@dataclass(frozen=True)
class Started:
    name: str
    task: str
    task_id: str
    job_id: str | None  # None: a plain task, not a job
    job: Job | None = None


def run_now(
    *,
    settings: Settings,
    celery: Celery,
    name: str,
    by: str | None,
    run_at: datetime | None = None,
) -> Started:
    """Run a schedule entry now, outside its schedule (a job like any other, for jobs), or at
    `run_at` (jobs only: a plain task has no row to wait in)."""
    entry = find(settings, name)
    if entry.job:
        job = submit_job(
            settings=settings,
            celery=celery,
            task_name=entry.task,
            params={},
            queue=entry.queue,
            submitted_by=by,
            run_at=run_at,
        )
        return Started(entry.name, entry.task, job.id, job.id, job)
    if run_at is not None:
        raise InvalidInput(f"{entry.name} runs a plain task, not a job: it cannot be scheduled")
    result = celery.send_task(entry.task, queue=entry.queue)
    return Started(entry.name, entry.task, str(result.id), None)


def queue_backup(*, settings: Settings, celery: Celery, by: str | None) -> str:
    job = submit_job(
        settings=settings, celery=celery, task_name=BACKUP_TASK, params={}, submitted_by=by
    )
    return job.id
