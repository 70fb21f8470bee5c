"""What the scheduled-job tests share (tests/integration/test_scheduled*.py; their system, with a
beat, is the `sched_system` fixture): 1,000 stamp jobs scheduled ahead, when and how often they
ran."""

from __future__ import annotations

import os
import random
import signal
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from synapse.db.engine import session_scope
from synapse.db.models import Job
from synapse.jobs.redis_client import get_redis
from synapse.jobs.service import submit_job
from tests.support.system import System

COUNT = 1_000
# A killed beat's lock frees within 3 s; a job queued 2 s late was missed.
BEAT_ENV = {"SYNAPSE_BEAT_LOCK_TTL": "3", "SYNAPSE_SCHEDULE_MISSED_AFTER": "2"}


def schedule_many(system: System, key: str, count: int) -> dict[str, datetime]:
    """`count` stamp jobs, each due 5-15 s after its own submission; their due times."""
    rng = random.Random(count)
    due: dict[str, datetime] = {}
    celery = system.celery()
    for _ in range(count):
        run_at = datetime.now(UTC) + timedelta(seconds=rng.uniform(5, 15))
        job = submit_job(
            settings=system.settings,
            celery=celery,
            task_name="test.stamp",
            params={"key": key},
            run_at=run_at,
        )
        due[job.id] = run_at
    return due


def runs_of(system: System, key: str) -> dict[str, list[float]]:
    runs: dict[str, list[float]] = {}
    for raw in get_redis(system.settings).lrange(key, 0, -1):
        job_id, at = raw.decode().split()
        runs.setdefault(job_id, []).append(float(at))
    return runs


def jobs_of(system: System, ids: set[str]) -> dict[str, Job]:
    with session_scope(system.settings) as session:
        rows = session.scalars(select(Job).where(Job.id.in_(ids))).all()
        return {job.id: job for job in rows}


def all_finished(system: System, ids: set[str]) -> dict[str, Job] | None:
    jobs = jobs_of(system, ids)
    return jobs if all(job.state == "SUCCESS" for job in jobs.values()) else None


def kill(system: System, name: str) -> None:
    proc = system.processes[name]
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
