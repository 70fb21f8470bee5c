"""The base task of every job: `self.update_progress(current, total, message)` as in the spec."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task
from celery.exceptions import Ignore

from synapse.config import get_settings
from synapse.errors import JobCancelled
from synapse.jobs import store
from synapse.jobs.runtime import JobRun

log = logging.getLogger("synapse.jobs")


class JobTask(Task):  # type: ignore[misc]
    """Wraps each run in the job's life cycle: RUNNING → SUCCESS | FAILURE | CANCELLED.

    Prefork runs one task at a time per process, so the current attempt lives on `self.job`.
    """

    abstract = True
    job: JobRun

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        settings = get_settings()
        job_id: str = self.request.id
        params = dict(kwargs)
        if args:
            params["args"] = list(args)
            if args and "project_id" not in params and isinstance(args[0], str):
                params["project_id"] = args[0]
        delivery = self.request.delivery_info or {}
        job, run_it = store.begin_attempt(
            settings,
            job_id=job_id,
            task_name=self.name,
            params=params,
            queue=delivery.get("routing_key") or "default",
            worker=self.request.hostname,
        )
        if not run_it:
            log.info("job %s is %s; not running it", job_id, job.state)
            raise Ignore()
        self.job = run = JobRun(
            settings, job_id=job_id, job_type=job.type, project_key=job.project_key
        )
        run.started(job.attempts)
        try:
            run.checkpoint()
            result = self.run(*args, **kwargs)
        except JobCancelled:
            run.cancelled()
            raise Ignore() from None
        except Exception as exc:
            run.failed(exc)
            raise
        run.succeeded(result)
        return result

    def update_progress(
        self, current: int, total: int, message: str, *, percent: int | None = None
    ) -> None:
        self.job.update_progress(current, total, message, percent=percent)

    def log(self, level: str, message: str) -> None:
        self.job.log(level, message)

    def checkpoint(self) -> None:
        self.job.checkpoint()
