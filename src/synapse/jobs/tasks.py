"""Housekeeping tasks of the job framework."""

from __future__ import annotations

import logging

from celery import current_app, shared_task

from synapse.config import get_settings
from synapse.jobs import store
from synapse.jobs.service import task_call

log = logging.getLogger("synapse.jobs")


@shared_task(name="synapse.sweep_abandoned_jobs", ignore_result=True)  # type: ignore[untyped-decorator]
def sweep_abandoned_jobs() -> int:
    """Send again the jobs left RUNNING by a dead worker whose message is gone too.

    The broker normally redelivers such a job itself once its lease runs out; this catches the
    rest (a Redis that lost its data, a lease renewed by mistake). The delivery's claim decides
    whether it runs, so a job is never run twice at once.
    """
    settings = get_settings()
    older_than = settings.visibility_timeout * 2 + settings.restore_interval * 2
    count = 0
    for job in store.abandoned(settings, older_than=older_than):
        args, kwargs = task_call(job.params)
        current_app.send_task(job.type, args=args, kwargs=kwargs, task_id=job.id, queue=job.queue)
        store.add_log(
            settings,
            job_id=job.id,
            level="WARNING",
            message=f"No heartbeat for over {older_than:.0f}s: its worker is gone; sent again",
        )
        count += 1
    if count:
        log.warning("sent %d abandoned jobs again", count)
    return count
