"""The worker-side request of a job: knows when the process running it died."""

from __future__ import annotations

import logging
from typing import Any

from billiard.exceptions import WorkerLostError
from celery.worker.request import Request

from synapse.config import get_settings
from synapse.jobs import attempts, events

log = logging.getLogger("synapse.jobs")


class JobRequest(Request):  # type: ignore[misc]
    """Runs in the worker's main process.

    When the pool process running a job dies (SIGKILL, out of memory), Celery requeues the
    message (`reject_on_worker_lost`). Before it does, this clears the job's heartbeat, so that
    the redelivery takes the job over at once instead of waiting for the heartbeat to go stale.
    """

    def on_failure(
        self, exc_info: Any, send_failed_event: bool = True, return_ok: bool = False
    ) -> Any:
        exc = getattr(exc_info.exception, "exc", exc_info.exception)
        lost = isinstance(exc, WorkerLostError) or (
            isinstance(exc, (SystemExit, KeyboardInterrupt))
            and not (self._already_cancelled or self._already_revoked)
        )
        if lost:
            settings, why = get_settings(), str(exc) or type(exc).__name__
            try:
                job = attempts.mark_lost(settings, job_id=self.id, why=why)
            except Exception as db_exc:  # the heartbeat will go stale instead
                log.warning("could not mark job %s lost: %s", self.id, db_exc)
            else:
                if job is not None:
                    events.publish_log(settings, job, "ERROR", f"Worker lost: {why}")
        return super().on_failure(
            exc_info, send_failed_event=send_failed_event, return_ok=return_ok
        )
