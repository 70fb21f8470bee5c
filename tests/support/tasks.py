"""Tasks for fault-injection tests, loaded by test workers through SYNAPSE_TASK_MODULES."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from celery import shared_task

from synapse.config import get_settings
from synapse.errors import InvalidInput, TransientError
from synapse.jobs.redis_client import get_redis
from synapse.jobs.task import JobTask


@shared_task(base=JobTask, bind=True, name="test.sleeper")  # type: ignore[untyped-decorator]
def sleeper(self: JobTask, seconds: float, step: float = 0.05) -> dict[str, Any]:
    """Works for `seconds`, reporting progress (and so checking for cancel) every `step`."""
    steps = max(1, int(seconds / step))
    for i in range(1, steps + 1):
        time.sleep(step)
        self.update_progress(i, steps, f"Slept {i}/{steps}")
    return {"slept": seconds}


@shared_task(base=JobTask, bind=True, name="test.flaky")  # type: ignore[untyped-decorator]
def flaky(self: JobTask, key: str, failures: int) -> dict[str, Any]:
    """Fails with a transient fault the first `failures` times, then succeeds."""
    tries = int(get_redis(get_settings()).incr(key))
    if tries <= failures:
        raise TransientError(f"injected fault {tries} of {failures}")
    return {"tries": tries}


@shared_task(base=JobTask, bind=True, name="test.kills_its_worker")  # type: ignore[untyped-decorator]
def kills_its_worker(self: JobTask) -> None:
    self.update_progress(1, 2, "about to die")
    os.kill(os.getpid(), signal.SIGKILL)


@shared_task(base=JobTask, bind=True, name="test.bad_input")  # type: ignore[untyped-decorator]
def bad_input(self: JobTask) -> None:
    raise InvalidInput("row 2: power_kw is not a number")


@shared_task(base=JobTask, bind=True, name="test.stamp")  # type: ignore[untyped-decorator]
def stamp(self: JobTask, key: str) -> dict[str, Any]:
    """Records each run in the Redis list `key` ("<job id> <unix time>"): a witness of how often
    and when a job ran that does not rely on the job table."""
    now = time.time()
    get_redis(get_settings()).rpush(key, f"{self.request.id} {now}")
    return {"at": now}
