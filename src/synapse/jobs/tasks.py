"""Housekeeping tasks of the job framework."""

from __future__ import annotations

import logging

import redis
from celery import current_app, shared_task

from synapse.config import Settings, get_settings
from synapse.db.models import Job
from synapse.jobs import attempts, events, store
from synapse.jobs.lost import lost_queued
from synapse.jobs.service import task_call

log = logging.getLogger("synapse.jobs")


@shared_task(name="synapse.sweep_abandoned_jobs", ignore_result=True)  # type: ignore[untyped-decorator]
def sweep_abandoned_jobs() -> int:
    """Send again the jobs whose message is gone: RUNNING ones left by a dead worker, and
    QUEUED ones whose message Redis lost.

    The broker normally redelivers a dead worker's job itself once its lease runs out; this
    catches the rest (a Redis that lost its data, a lease renewed by mistake). The delivery's
    claim decides whether it runs, so a job is never run twice at once.
    """
    settings = get_settings()
    older_than = settings.visibility_timeout * 2 + settings.restore_interval * 2
    count = 0
    for job in attempts.abandoned(settings, older_than=older_than):
        _send_again(settings, job, f"No heartbeat for over {older_than:.0f}s: its worker is gone")
        count += 1
    try:
        lost = lost_queued(settings, older_than=older_than)
    except redis.RedisError as exc:
        log.warning("cannot look for lost queued jobs: %s", exc)
        lost = []
    for job in lost:
        _send_again(settings, job, "Queued, but its message was no longer in Redis")
        count += 1
    if count:
        log.warning("sent %d abandoned or lost jobs again", count)
    from synapse.webhooks.triggers import sweep as webhooks_sweep

    webhooks_sweep(settings)  # lost webhook deliveries sent again, schedule.missed (never raises)
    return count


def _send_again(settings: Settings, job: Job, why: str) -> None:
    args, kwargs = task_call(job.params)
    current_app.send_task(job.type, args=args, kwargs=kwargs, task_id=job.id, queue=job.queue)
    store.add_log(settings, job_id=job.id, level="WARNING", message=f"{why}; sent again")
    events.publish_log(settings, job, "WARNING", f"{why}; sent again")
