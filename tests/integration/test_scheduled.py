"""Scheduled jobs (`run_at` / `delay_seconds`): SCHEDULED in the job table, sent by the beat on
time, cancellable, and neither lost, doubled nor early when beat and worker are killed."""

from __future__ import annotations

import os
import random
import signal
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from synapse.db.engine import session_scope
from synapse.db.models import Job, JobLog
from synapse.jobs.broker import waiting_ids
from synapse.jobs.redis_client import get_redis
from synapse.jobs.service import submit_job
from tests.support.csvdata import assets_csv
from tests.support.services import postgres_database
from tests.support.system import System, running_system
from tests.support.waiting import wait_for

COUNT = 1_000
LATE_LIMIT = 1.0  # seconds after its time by which the beat must have queued each job
# A killed beat's lock frees within 3 s; a job queued 2 s late was missed.
BEAT_ENV = {"SYNAPSE_BEAT_LOCK_TTL": "3", "SYNAPSE_SCHEDULE_MISSED_AFTER": "2"}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def sched_system(
    request: pytest.FixtureRequest, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[System]:
    base: Path = tmp_path_factory.mktemp("scheduled")
    if request.param == "sqlite":
        url = f"sqlite:///{base / 'sqlite' / 'synapse.db'}"
        with running_system(
            "sched-sqlite",
            database_url=url,
            redis_url=redis_url,
            base=base,
            **BEAT_ENV,
        ) as system:
            system.spawn("beat", "beat")
            yield system
        return
    with (
        postgres_database() as url,
        running_system(
            "sched-pg", database_url=url, redis_url=redis_url, base=base, **BEAT_ENV
        ) as system,
    ):
        system.spawn("beat", "beat")
        yield system


def _schedule_many(system: System, key: str, count: int) -> dict[str, datetime]:
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


def _runs(system: System, key: str) -> dict[str, list[float]]:
    runs: dict[str, list[float]] = {}
    for raw in get_redis(system.settings).lrange(key, 0, -1):
        job_id, at = raw.decode().split()
        runs.setdefault(job_id, []).append(float(at))
    return runs


def _jobs(system: System, ids: set[str]) -> dict[str, Job]:
    with session_scope(system.settings) as session:
        rows = session.scalars(select(Job).where(Job.id.in_(ids))).all()
        return {job.id: job for job in rows}


def _all_finished(system: System, ids: set[str]) -> dict[str, Job] | None:
    jobs = _jobs(system, ids)
    return jobs if all(job.state == "SUCCESS" for job in jobs.values()) else None


def _kill(system: System, name: str) -> None:
    proc = system.processes[name]
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def test_a_thousand_jobs_start_on_time(sched_system: System) -> None:
    """1,000 jobs due 5-15 s ahead: SCHEDULED, nothing in Redis until due; the beat queues each
    within a second of its time; each runs once, never before its time. (How soon after its
    time each one starts depends on the workers' throughput as well: `make bench-scheduled`
    measures it on a quiet machine; a test run shares the machine with other tests.)"""
    system = sched_system
    key = f"{system.settings.redis_prefix}:stamps:{uuid.uuid4().hex[:6]}"
    due = _schedule_many(system, key, COUNT)
    ids = set(due)
    with session_scope(system.settings) as session:
        waiting = session.scalars(select(Job.state).where(Job.id.in_(ids))).all()
    assert set(waiting) <= {"SCHEDULED", "QUEUED", "RUNNING", "SUCCESS"}
    assert waiting.count("SCHEDULED") > COUNT * 0.9  # the first fall due 5 s after submission
    in_redis = waiting_ids(get_redis(system.settings), system.settings, "default", limit=5_000)
    assert in_redis is not None and not in_redis & {i for i, t in due.items() if t > _soon()}

    jobs = wait_for(lambda: _all_finished(system, ids), timeout=90, interval=0.5, what="all ran")
    runs = _runs(system, key)
    for job_id, run_at in due.items():
        job = jobs[job_id]
        assert job.run_at == run_at
        assert job.attempts == 1, job_id
        assert len(runs[job_id]) == 1, f"{job_id} ran {len(runs[job_id])} times"
        assert job.started_at is not None and job.started_at >= run_at, "started early"
        assert runs[job_id][0] >= run_at.timestamp(), "ran early"
    with session_scope(system.settings) as session:
        released = dict(
            session.execute(
                select(JobLog.job_id, JobLog.at).where(
                    JobLog.job_id.in_(ids), JobLog.message.like("Due at%")
                )
            ).all()
        )
    assert set(released) == ids, "each one queued by the beat, none missed"
    gaps = sorted((released[i] - due[i]).total_seconds() for i in ids)
    starts = sorted((jobs[i].started_at - due[i]).total_seconds() for i in ids)  # type: ignore[operator]
    print(
        f"{COUNT} scheduled jobs: queued after their time p50 {gaps[COUNT // 2]:.3f} s, "
        f"max {gaps[-1]:.3f} s; started p50 {starts[COUNT // 2]:.3f} s, max {starts[-1]:.3f} s"
    )
    assert gaps[0] >= 0 and gaps[-1] <= LATE_LIMIT, f"queued {gaps[-1]:.2f} s after its time"


def _soon() -> datetime:
    return datetime.now(UTC) + timedelta(seconds=1)


def test_beat_and_worker_killed_meanwhile(sched_system: System) -> None:
    """The same, with beat and worker SIGKILLed while jobs fall due: none lost, none run twice
    (a job whose worker died under it runs again, as every job does), none before its time."""
    system = sched_system
    key = f"{system.settings.redis_prefix}:stamps:{uuid.uuid4().hex[:6]}"
    due = _schedule_many(system, key, COUNT)
    ids = set(due)
    first = min(due.values())
    wait_for(lambda: datetime.now(UTC) > first + timedelta(seconds=2), timeout=20, what="due")
    _kill(system, "beat")
    _kill(system, "worker")
    down_at = datetime.now(UTC)
    wait_for(lambda: datetime.now(UTC) > down_at + timedelta(seconds=3), timeout=10, what="down")
    system.start_worker()
    system.spawn("beat", "beat")

    jobs = wait_for(lambda: _all_finished(system, ids), timeout=90, interval=0.5, what="all ran")
    runs = _runs(system, key)
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


def test_api_schedule_list_and_cancel(sched_system: System) -> None:
    """`delay_seconds` and `run_at` on a submitting POST: 202 SCHEDULED with its time, listed
    under queued, cancellable before its time; a bad time is a 422 naming it."""
    system = sched_system
    with system.client() as client:
        answer = client.post(
            "/api/v1/ingestion/upload-csv",
            params={"delay_seconds": "600"},
            data={"project_id": "SCHED"},
            files={"file": ("a.csv", assets_csv(3), "text/csv")},
        )
        assert answer.status_code == 202, answer.text
        body = answer.json()
        assert body["status"] == "SCHEDULED" and "scheduled for" in body["message"]
        job_id = body["job_id"]
        job = client.get(f"/api/v1/jobs/{job_id}").json()
        assert job["state"] == "SCHEDULED" and job["status"] == "PENDING"
        assert datetime.fromisoformat(job["run_at"]) > datetime.now(UTC) + timedelta(minutes=9)
        queued = client.get("/api/v1/jobs", params={"state": "queued", "limit": 1000}).json()
        assert job_id in {item["id"] for item in queued["items"]}
        page = client.get("/", params={"state": "queued"})
        assert page.status_code == 200 and "scheduled for" in page.text

        later = (datetime.now().astimezone() + timedelta(hours=2)).isoformat()
        answer = client.post("/api/v1/projects/SCHED/rules/run", params={"run_at": later}, json={})
        assert answer.status_code == 202, answer.text
        assert answer.json()["status"] == "SCHEDULED"

        cancelled = client.post(f"/api/v1/jobs/{job_id}/cancel")
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["state"] == "CANCELLED"
        with session_scope(system.settings) as session:
            lines = session.scalars(select(JobLog.message).where(JobLog.job_id == job_id)).all()
        assert any("Cancelled" in line for line in lines)

        for params, word in (
            ({"run_at": "tomorrow"}, "run_at"),
            ({"run_at": "2026-12-01T18:00:00"}, "offset"),
            ({"run_at": later, "delay_seconds": "5"}, "not both"),
            ({"delay_seconds": "-1"}, "delay_seconds"),
        ):
            bad = client.post("/api/v1/projects/SCHED/rules/run", params=params, json={})
            assert bad.status_code == 422, (params, bad.text)
            assert word in bad.text, (params, bad.text)


def test_missed_while_down_runs_at_once(sched_system: System) -> None:
    """A job whose time passed while no beat ran is queued at once when one is back, marked
    missed in its log."""
    system = sched_system
    key = f"{system.settings.redis_prefix}:stamps:{uuid.uuid4().hex[:6]}"
    _kill(system, "beat")
    try:
        run_at = datetime.now(UTC) + timedelta(seconds=0.5)
        job = submit_job(
            settings=system.settings,
            celery=system.celery(),
            task_name="test.stamp",
            params={"key": key},
            run_at=run_at,
        )
        wait_for(
            lambda: datetime.now(UTC) > run_at + timedelta(seconds=3), timeout=20, what="missed"
        )
        assert _jobs(system, {job.id})[job.id].state == "SCHEDULED"
    finally:
        system.spawn("beat", "beat")
    done = wait_for(lambda: _all_finished(system, {job.id}), timeout=30, what="the missed job")
    assert done[job.id].attempts == 1
    with session_scope(system.settings) as session:
        lines = session.execute(
            select(JobLog.level, JobLog.message).where(JobLog.job_id == job.id)
        ).all()
    assert any(level == "WARNING" and "Missed its time" in text for level, text in lines), lines
