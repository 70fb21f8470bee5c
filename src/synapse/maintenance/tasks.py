"""The scheduled jobs: thin tasks over the maintenance services.

Each is a job (a row with progress and log lines, no project: admin-only) whether beat sent it
(`scheduled_for` is its slot) or someone ran it from the API.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from celery import shared_task

from synapse.config import get_settings
from synapse.db.models import utcnow
from synapse.jobs.task import JobTask
from synapse.maintenance.backup import run_backup
from synapse.maintenance.prune import prune_jobs
from synapse.maintenance.schedule import BACKUP_TASK, PRUNE_TASK, REPORT_TASK
from synapse.maintenance.weekly import run_report


def _slot(scheduled_for: str | None) -> datetime:
    return datetime.fromisoformat(scheduled_for) if scheduled_for else utcnow()


@shared_task(base=JobTask, bind=True, name=BACKUP_TASK)  # type: ignore[untyped-decorator]
def backup_database(self: JobTask, scheduled_for: str | None = None) -> dict[str, Any]:
    """Back up the database (pg_dump or SQLite's online backup), verify it, prune old ones."""
    return run_backup(get_settings(), self.job, job_id=self.request.id)


@shared_task(base=JobTask, bind=True, name=REPORT_TASK)  # type: ignore[untyped-decorator]
def generate_weekly_report(self: JobTask, scheduled_for: str | None = None) -> dict[str, Any]:
    """The report of the 7 days before the run (its slot, when beat sent it): PDF and xlsx."""
    return run_report(get_settings(), self.job, end=_slot(scheduled_for), job_id=self.request.id)


@shared_task(base=JobTask, bind=True, name=PRUNE_TASK)  # type: ignore[untyped-decorator]
def prune_job_history(self: JobTask, scheduled_for: str | None = None) -> dict[str, Any]:
    """Delete finished jobs older than SYNAPSE_JOB_RETENTION_DAYS and what belongs to them."""
    return prune_jobs(get_settings(), self.job)
