"""The base task of every job: `self.update_progress(current, total, message)` as in the spec."""

from __future__ import annotations

import logging
import os
from typing import Any, NoReturn

from celery import Task
from celery.exceptions import Ignore

from synapse.config import get_settings
from synapse.errors import JobCancelled
from synapse.jobs import attempts, fairshare, queues
from synapse.jobs.heartbeat import Heartbeat
from synapse.jobs.retry import backoff, is_transient
from synapse.jobs.runtime import JobRun

log = logging.getLogger("synapse.jobs")


class JobTask(Task):  # type: ignore[misc]
    """Wraps each delivery in the job's life cycle.

    claim (RUNNING, or skip a duplicate/finished/cancelled delivery) → run with a heartbeat →
    SUCCESS | FAILURE | CANCELLED, or RETRYING with backoff when the fault is transient.
    Prefork runs one task at a time per process, so the current attempt lives on `self.job`.
    """

    abstract = True
    Request = "synapse.jobs.request:JobRequest"
    # Automatic retries of transient faults; None: SYNAPSE_RETRY_MAX. A task may set its own.
    max_retries: int | None = None
    # The job table says when a job started (and Flower hears the task-started event); a
    # STARTED record in the result backend would be one more Redis write per job for nobody.
    # The end result is still stored there, as for any Celery task.
    track_started = False
    job: JobRun

    def _retry_limit(self) -> int:
        return get_settings().retry_max if self.max_retries is None else int(self.max_retries)

    def _retry_later(self, run: JobRun | None, exc: Exception) -> NoReturn:
        settings = get_settings()
        number = self.request.retries + 1
        delay = backoff(number, base=settings.retry_backoff, cap=settings.retry_backoff_max)
        if run is not None:
            run.retrying(exc, delay)
        log.warning(
            "job %s: transient fault (%s); retry %d in %.1fs", self.request.id, exc, number, delay
        )
        raise self.retry(exc=exc, countdown=delay, max_retries=self._retry_limit())

    def _can_retry(self, exc: Exception) -> bool:
        return is_transient(exc) and self.request.retries < self._retry_limit()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        settings = get_settings()
        job_id: str = self.request.id
        params = dict(kwargs)
        if args:
            params["args"] = list(args)
            if "project_id" not in params and isinstance(args[0], str):
                params["project_id"] = args[0]
        delivery = self.request.delivery_info or {}
        queue = delivery.get("routing_key") or "default"
        worker = f"{self.request.hostname} pid {os.getpid()}"
        try:
            # A waiting job of a queue that is not paused: claimed in one statement.
            claim = attempts.claim_unpaused(settings, job_id=job_id, queue=queue, worker=worker)
            # The start gate: a job whose queue is paused does not start (jobs/queues.py).
            if claim is None and queues.hold_if_paused(
                settings, job_id=job_id, queue=queue, task_name=self.name, params=params
            ):
                self._stop_consuming(queue)
                raise Ignore()
            if claim is None:
                claim = attempts.claim_attempt(
                    settings,
                    job_id=job_id,
                    task_name=self.name,
                    params=params,
                    queue=queue,
                    worker=worker,
                )
        except Ignore:
            raise
        except Exception as exc:
            if self._can_retry(exc):
                self._retry_later(None, exc)
            raise
        self.job = run = JobRun(
            settings,
            job_id=job_id,
            job_type=claim.type,
            project_key=claim.project_key,
            attempt=claim.attempts,
        )
        if not self._runs(claim, run):
            raise Ignore()
        run.started(claim.reason)
        with Heartbeat(settings, job_id=job_id, attempt=claim.attempts):
            try:
                run.checkpoint_at_start()
                result = self.run(*args, **kwargs)
            except JobCancelled:
                run.cancelled()
                raise Ignore() from None
            except Exception as exc:
                if self._can_retry(exc):
                    self._retry_later(run, exc)
                run.failed(exc)
                raise
        run.succeeded(result)
        return result

    def _runs(self, claim: attempts.Claim, run: JobRun) -> bool:
        """Whether this delivery runs the job it claimed: not a duplicate, finished or
        quarantined job, nor one whose project holds all its slots (jobs/fairshare.py: the job
        stepped back to wait). Jobs without a project skip the fair-share count."""
        if claim.reason == "quarantined":
            run.quarantined(claim.error or "worker lost repeatedly")
        if not claim.run:
            log.info(
                "job %s: not running this delivery (%s, %s)", run.job_id, claim.reason, claim.state
            )
            return False
        if run.project_key is None:
            return True
        try:
            return fairshare.admit(
                run.settings,
                self.app,
                job_id=run.job_id,
                project_key=run.project_key,
                attempt=run.attempt,
            )
        except Exception as exc:  # the limit is a share, not a safety net: run, as before it
            log.warning("job %s: could not count its project's slots: %s", run.job_id, exc)
            return True

    def _stop_consuming(self, queue: str) -> None:
        """This worker took a message of a paused queue: it missed the pause; stop it now."""
        log.info("job %s held: queue %s is paused", self.request.id, queue)
        try:
            self.app.control.cancel_consumer(
                queue, destination=[self.request.hostname], reply=False
            )
        except Exception as exc:  # its presence thread follows the pause within seconds anyway
            log.warning("could not stop consuming %s: %s", queue, exc)

    def update_progress(
        self, current: int, total: int, message: str, *, percent: int | None = None
    ) -> None:
        self.job.update_progress(current, total, message, percent=percent)

    def log(self, level: str, message: str) -> None:
        self.job.log(level, message)

    def checkpoint(self) -> None:
        self.job.checkpoint()
