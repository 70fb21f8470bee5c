"""Scheduled jobs (`run_at` / `delay_seconds`): SCHEDULED in the job table, sent by the beat on
time, cancellable, missed when no beat ran at their time (restarts: test_scheduled_restarts.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import or_, select

from synapse.db.engine import session_scope
from synapse.db.models import Job, JobLog
from synapse.jobs.broker import waiting_ids
from synapse.jobs.redis_client import get_redis
from synapse.jobs.service import submit_job
from tests.support.csvdata import assets_csv
from tests.support.scheduled import (
    COUNT,
    all_finished,
    jobs_of,
    kill,
    runs_of,
    schedule_many,
)
from tests.support.system import System
from tests.support.waiting import wait_for

LATE_LIMIT = 1.0  # seconds after its time by which the beat must have queued each job


def _soon() -> datetime:
    return datetime.now(UTC) + timedelta(seconds=1)


@pytest.mark.alone
def test_a_thousand_jobs_start_on_time(sched_system: System) -> None:
    """1,000 jobs due 5-15 s ahead: SCHEDULED, nothing in Redis until due; the beat queues each
    within a second of its time; each runs once, never before its time. (How soon after its
    time each one starts depends on the workers' throughput as well: `make bench-scheduled`
    measures it on a quiet machine.) A deadline of one second is a promise about this system,
    not about a machine that four other test files load at once (there a beat was once held
    up for 3 s): `make test` runs it after the others, alone (the `alone` mark)."""
    system = sched_system
    key = f"{system.settings.redis_prefix}:stamps:{uuid.uuid4().hex[:6]}"
    due = schedule_many(system, key, COUNT)
    ids = set(due)
    later = {job_id for job_id, run_at in due.items() if run_at > _soon()}
    with session_scope(system.settings) as session:
        waiting = dict(session.execute(select(Job.id, Job.state).where(Job.id.in_(later))).all())
    assert later and set(waiting.values()) == {"SCHEDULED"}, "a job left SCHEDULED before its time"
    in_redis = waiting_ids(get_redis(system.settings), system.settings, "default", limit=5_000)
    assert in_redis is not None and not in_redis & later, "a job was sent before its time"

    jobs = wait_for(lambda: all_finished(system, ids), timeout=90, interval=0.5, what="all ran")
    runs = runs_of(system, key)
    for job_id, run_at in due.items():
        job = jobs[job_id]
        assert job.run_at == run_at
        assert job.attempts == 1, job_id
        assert len(runs[job_id]) == 1, f"{job_id} ran {len(runs[job_id])} times"
        assert job.started_at is not None and job.started_at >= run_at, "started early"
        assert runs[job_id][0] >= run_at.timestamp(), "ran early"

    def release_lines() -> dict[str, datetime] | None:
        # The beat writes a job's line after sending it: the last ones may still be coming.
        with session_scope(system.settings) as session:
            lines = dict(
                session.execute(
                    select(JobLog.job_id, JobLog.at).where(
                        JobLog.job_id.in_(ids),
                        or_(
                            JobLog.message.like("Due at%"),
                            JobLog.message.like("Missed its time%"),
                        ),
                    )
                ).all()
            )
        return lines if set(lines) == ids else None

    released = wait_for(release_lines, timeout=10, what="each one queued by the beat")
    gaps = sorted((released[i] - due[i]).total_seconds() for i in ids)
    starts = sorted((jobs[i].started_at - due[i]).total_seconds() for i in ids)  # type: ignore[operator]
    late = sorted((due[i], released[i]) for i in ids if (released[i] - due[i]).total_seconds() > 1)
    summary = (
        f"{COUNT} scheduled jobs: queued after their time p50 {gaps[COUNT // 2]:.3f} s, "
        f"p99 {gaps[COUNT * 99 // 100]:.3f} s, max {gaps[-1]:.3f} s; started p50 "
        f"{starts[COUNT // 2]:.3f} s, max {starts[-1]:.3f} s; {len(late)} queued over 1 s late"
        + (f", due {late[0][0]:%H:%M:%S.%f} to {late[-1][0]:%H:%M:%S.%f}" if late else "")
    )
    print(summary)
    assert gaps[0] >= 0 and gaps[-1] <= LATE_LIMIT, summary


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
    kill(system, "beat")
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
        assert jobs_of(system, {job.id})[job.id].state == "SCHEDULED"
    finally:
        system.spawn("beat", "beat")
    done = wait_for(lambda: all_finished(system, {job.id}), timeout=30, what="the missed job")
    assert done[job.id].attempts == 1

    def missed_line() -> list[tuple[str, str]] | None:
        # The beat sends a job before it marks it QUEUED and writes its log line (a crash in
        # between must leave it SCHEDULED, to be sent again), so a fast worker may finish the
        # job before that line is committed.
        with session_scope(system.settings) as session:
            lines = session.execute(
                select(JobLog.level, JobLog.message).where(JobLog.job_id == job.id)
            ).all()
        found = [(level, text) for level, text in lines if "Missed its time" in text]
        return found or None

    found = wait_for(missed_line, timeout=10, what="the missed line in the job's log")
    assert [level for level, _text in found] == ["WARNING"], found
