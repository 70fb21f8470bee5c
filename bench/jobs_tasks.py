"""Tasks of the job benchmark, loaded by its workers (SYNAPSE_TASK_MODULES=jobs_tasks)."""

from __future__ import annotations

import time

from celery import shared_task

from synapse.jobs.task import JobTask


@shared_task(name="bench.raw_noop")  # type: ignore[untyped-decorator]
def raw_noop() -> None:
    """A plain Celery task: what raw Celery costs per task."""


@shared_task(base=JobTask, bind=True, name="bench.job_noop")  # type: ignore[untyped-decorator]
def job_noop(self: JobTask) -> None:
    """The same nothing, as a job: claim, heartbeat, events, end state."""


@shared_task(base=JobTask, bind=True, name="bench.progress")  # type: ignore[untyped-decorator]
def progress(self: JobTask, count: int, interval: float) -> dict[str, int]:
    """`count` progress updates, `interval` seconds apart (each carries its send time)."""
    for i in range(1, count + 1):
        time.sleep(interval)
        self.update_progress(i, count, f"step {i}")
    return {"events": count}
