"""Scheduled jobs across restarts: beat and worker SIGKILLed while 1,000 jobs fall due; none
lost, none run twice, none before its time (a file of its own, so that it runs beside
test_scheduled.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from tests.support.scheduled import (
    COUNT,
    all_finished,
    kill,
    runs_of,
    schedule_many,
)
from tests.support.system import System
from tests.support.waiting import wait_for


def test_beat_and_worker_killed_meanwhile(sched_system: System) -> None:
    """The same, with beat and worker SIGKILLed while jobs fall due: none lost, none run twice
    (a job whose worker died under it runs again, as every job does), none before its time."""
    system = sched_system
    key = f"{system.settings.redis_prefix}:stamps:{uuid.uuid4().hex[:6]}"
    due = schedule_many(system, key, COUNT)
    ids = set(due)
    first = min(due.values())
    wait_for(lambda: datetime.now(UTC) > first + timedelta(seconds=2), timeout=20, what="due")
    kill(system, "beat")
    kill(system, "worker")
    down_at = datetime.now(UTC)
    wait_for(lambda: datetime.now(UTC) > down_at + timedelta(seconds=3), timeout=10, what="down")
    system.start_worker()
    system.spawn("beat", "beat")

    jobs = wait_for(lambda: all_finished(system, ids), timeout=90, interval=0.5, what="all ran")
    runs = runs_of(system, key)
    assert set(runs) == ids, f"{len(ids - set(runs))} jobs never ran"
    rerun = {job_id for job_id, job in jobs.items() if job.attempts > 1}
    for job_id, run_at in due.items():
        job = jobs[job_id]
        assert job.started_at is not None and job.started_at >= run_at, "started early"
        assert all(at >= run_at.timestamp() for at in runs[job_id]), "ran early"
        # Each run is an attempt of its own; only a job whose worker died under it has two.
        assert len(runs[job_id]) <= job.attempts, f"{job_id} ran twice in one attempt"
    assert all(jobs[job_id].lost_count or jobs[job_id].attempts > 1 for job_id in rerun)
    assert len(rerun) <= system.concurrency, f"{len(rerun)} jobs ran again"
