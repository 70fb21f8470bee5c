"""One attempt of a job inside a worker: progress, log lines, checkpoints and the end state."""

from __future__ import annotations

import contextlib
import logging
import time
import traceback as tb
from typing import Any

import redis
from celery import current_app

from synapse.config import Settings
from synapse.errors import InvalidInput, JobCancelled
from synapse.jobs import attempts, events, fairshare, states, store
from synapse.jobs.redis_client import cancel_key, get_redis
from synapse.jobs.retry import backoff, is_transient

log = logging.getLogger("synapse.jobs")

FINISH_TRIES = 8


class JobRun:
    """What a running task sees of its job. Created by `JobTask` for each attempt."""

    def __init__(
        self,
        settings: Settings,
        *,
        job_id: str,
        job_type: str,
        project_key: str | None,
        attempt: int = 1,
    ) -> None:
        self.settings = settings
        self.job_id = job_id
        self.attempt = attempt
        self.job_type = job_type
        self.project_key = project_key
        self.percent = 0
        self.current = 0
        self.total = 0
        self.message = "Started"
        self._last_db_write = 0.0
        self._cancel_at_start: bool | None = None  # the cancel flag as read by `started`
        self._no_return: str | None = None  # what happened that a cancel can no longer undo
        self._late_cancel_told = False

    # -- events -----------------------------------------------------------------------------

    def _job_event(
        self, action_type: str, message: str, state: str, level: str = "INFO"
    ) -> dict[str, Any]:
        return events.job_event(
            job_id=self.job_id,
            action_type=action_type,
            message=message,
            state=state,
            percent=self.percent,
            current=self.current,
            total=self.total,
            level=level,
            job_type=self.job_type,
            project_id=self.project_key,
        )

    def _event(self, action_type: str, message: str, state: str, level: str = "INFO") -> None:
        events.publish(self.settings, self._job_event(action_type, message, state, level))

    def started(self, reason: str) -> None:
        """The start event; the cancel flag is read in the same Redis round trip.

        `checkpoint_at_start` then tells whether the job was cancelled before it started.
        """
        why = {"lost": "; its previous worker was lost", "retry": " (automatic retry)"}
        text = f"{self.job_type} started (attempt {self.attempt}{why.get(reason, '')})"
        if reason != "new":
            store.add_log(self.settings, job_id=self.job_id, level="INFO", message=text)
        event = self._job_event(events.STATE, text, states.RUNNING)
        try:
            pipe = get_redis(self.settings).pipeline(transaction=False)
            pipe.publish(self.settings.events_channel, events.encode(event))
            pipe.exists(cancel_key(self.settings, self.job_id))
            _published, flagged = pipe.execute()
        except Exception as exc:  # Redis is away: no start event; cancel works again with it
            log.warning(
                "could not publish the start of %s or check its cancel flag: %s", self.job_id, exc
            )
            self._cancel_at_start = False
        else:
            self._cancel_at_start = bool(flagged)

    # -- what tasks call --------------------------------------------------------------------

    def update_progress(
        self, current: int, total: int, message: str, *, percent: int | None = None
    ) -> None:
        """The spec's progress call. Percent never goes down within an attempt.

        Every update is published live; the database copy is throttled. Each call is also a
        cancel checkpoint.
        """
        if percent is None:
            percent = int(current * 100 / total) if total > 0 else 0
        self.percent = max(self.percent, min(100, max(0, percent)))
        self.current, self.total, self.message = current, total, message
        self._event(events.PROGRESS, f"{message} ({self.percent}%)", states.RUNNING)
        now = time.monotonic()
        if now - self._last_db_write >= self.settings.progress_db_interval or self.percent == 100:
            self._last_db_write = now
            try:
                attempts.save_progress(
                    self.settings,
                    job_id=self.job_id,
                    attempt=self.attempt,
                    percent=self.percent,
                    current=current,
                    total=total,
                    message=message,
                )
            except Exception as exc:  # progress is best effort: the stream and the end state count
                if not is_transient(exc):
                    raise
                log.warning("could not save the progress of %s: %s", self.job_id, exc)
        self.checkpoint()

    def log(self, level: str, message: str) -> None:
        """A log line of the job: kept in the database and shown live."""
        level = level.upper()
        store.add_log(self.settings, job_id=self.job_id, level=level, message=message)
        self._event(events.LOG, message, states.RUNNING, level=level)
        log.log(logging.getLevelName(level), "[%s] %s", self.job_id, message)

    def cancel_requested(self) -> bool:
        try:
            return bool(get_redis(self.settings).exists(cancel_key(self.settings, self.job_id)))
        except redis.RedisError as exc:  # Redis is away: carry on; cancel works again with it
            log.warning("cannot check the cancel flag of %s: %s", self.job_id, exc)
            return False

    def checkpoint(self) -> None:
        """Stop here if someone asked to cancel the job (until its point of no return)."""
        if not self.cancel_requested():
            return
        if self._no_return is None:
            raise JobCancelled(self.job_id)
        if not self._late_cancel_told:
            self._late_cancel_told = True
            self.log(
                "WARNING",
                f"Cancel requested after {self._no_return}: too late to roll back; "
                "the job completes (an import can be undone)",
            )

    def past_point_of_no_return(self, what: str) -> None:
        """From here on the job's work is committed: a cancel no longer stops it.

        It then ends SUCCESS, saying in its log that the cancel came too late, never CANCELLED
        with its work in the database.
        """
        self._no_return = what

    def checkpoint_at_start(self) -> None:
        """The first checkpoint, with the cancel flag read along with the start event."""
        flagged, self._cancel_at_start = self._cancel_at_start, None
        if flagged is None:
            self.checkpoint()
        elif flagged:
            raise JobCancelled(self.job_id)

    # -- end states (called by JobTask) ---------------------------------------------------

    def slot_freed(self) -> None:
        """This attempt left RUNNING: its project's waiting jobs may take the slot
        (jobs/fairshare.py; nothing for a job without a project)."""
        if self.project_key is not None:
            fairshare.slot_freed(self.settings, current_app, project_key=self.project_key)

    def _finish(self, **values: Any) -> bool:
        """Write the end state, waiting out a short database outage (the work is done)."""
        for attempt in range(1, FINISH_TRIES + 1):
            try:
                ok = attempts.finish(
                    self.settings, job_id=self.job_id, attempt=self.attempt, **values
                )
            except Exception as exc:
                if attempt == FINISH_TRIES or not is_transient(exc):
                    raise
                delay = backoff(attempt, base=1.0, cap=self.settings.retry_backoff_max)
                log.warning(
                    "could not record the end of %s (%s); again in %.1fs", self.job_id, exc, delay
                )
                time.sleep(delay)
                continue
            if not ok:
                log.warning(
                    "attempt %s of %s was superseded; its end is not recorded",
                    self.attempt,
                    self.job_id,
                )
            return ok
        return False

    def retrying(self, exc: BaseException, delay: float) -> None:
        """A transient fault: the job goes RETRYING and will be delivered again after `delay`."""
        error = f"{type(exc).__name__}: {exc}"
        try:
            attempts.set_retrying(
                self.settings, job_id=self.job_id, attempt=self.attempt, error=error, delay=delay
            )
        except Exception as db_exc:  # the database itself is the fault: the retry still happens
            log.warning("could not record the retry of %s: %s", self.job_id, db_exc)
        self.slot_freed()
        self._event(
            events.STATE,
            f"Attempt {self.attempt} failed ({error}); retrying in {delay:.1f}s",
            states.RETRYING,
            level="WARNING",
        )

    def succeeded(self, result: Any) -> None:
        self.percent, self.message = 100, "Complete"
        if self.total == 0:
            self.current = self.total = 1
        else:
            self.current = self.total
        stored = result if isinstance(result, dict) else {"value": result}
        summary = stored.get("summary") if isinstance(stored.get("summary"), str) else None
        if not self._finish(
            state=states.SUCCESS,
            message=summary or "Complete",
            result=stored,
            progress=(100, self.current, self.total),
        ):
            return
        self.slot_freed()
        self._event(events.STATE, summary or f"{self.job_type} complete", states.SUCCESS)

    def failed(self, exc: BaseException) -> None:
        error = str(exc) or type(exc).__name__
        trace = None if isinstance(exc, InvalidInput) else tb.format_exc()
        result = exc.details if isinstance(exc, InvalidInput) and exc.details else None
        if not self._finish(
            state=states.FAILURE,
            message=f"Failed: {error}",
            result=result,
            error=error,
            traceback=trace,
            progress=(self.percent, self.current, self.total),
        ):
            return
        self.slot_freed()
        store.add_log(self.settings, job_id=self.job_id, level="ERROR", message=error)
        self._event(events.STATE, f"Error: {error}", states.FAILURE, level="ERROR")

    def quarantined(self, error: str) -> None:
        self.slot_freed()
        store.add_log(self.settings, job_id=self.job_id, level="ERROR", message=error)
        self._event(events.STATE, f"Error: {error}", states.FAILURE, level="ERROR")

    def cancelled(self) -> None:
        if not self._finish(
            state=states.CANCELLED,
            message="Cancelled; its work was rolled back",
            progress=(self.percent, self.current, self.total),
        ):
            return
        self.slot_freed()
        store.add_log(self.settings, job_id=self.job_id, level="WARNING", message="Cancelled")
        with contextlib.suppress(redis.RedisError):
            get_redis(self.settings).delete(cancel_key(self.settings, self.job_id))
        self._event(events.STATE, "Cancelled", states.CANCELLED, level="WARNING")
