"""The job store on a real SQLite file: cancelling jobs that are not running, time windows."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from synapse.config import Settings
from synapse.db.engine import session_scope
from synapse.db.models import utcnow
from synapse.jobs import attempts, states, store
from tests.support.local import sqlite_settings


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    return sqlite_settings(tmp_path, monkeypatch)


def new_job(settings: Settings) -> str:
    job_id = str(uuid.uuid4())
    with session_scope(settings) as session:
        store.add_job(
            session, job_id=job_id, task_name="t", params={}, queue="default", project_key=None
        )
    return job_id


def claim(settings: Settings, job_id: str) -> attempts.Claim:
    return attempts.claim_attempt(
        settings, job_id=job_id, task_name="t", params={}, queue="default", worker="w"
    )


def state(settings: Settings, job_id: str) -> tuple[str, int, str]:
    with session_scope(settings) as session:
        job = store.get_job(session, job_id)
        assert job is not None
        return job.state, job.attempts, job.message


def test_a_job_waiting_to_retry_cancels_at_once_and_never_runs_again(settings: Settings) -> None:
    job_id = new_job(settings)
    assert claim(settings, job_id).run
    attempts.set_retrying(settings, job_id=job_id, attempt=1, error="OperationalError: x", delay=30)
    assert state(settings, job_id)[0] == states.RETRYING

    with session_scope(settings) as session:
        assert store.cancel_queued(session, job_id)
    assert state(settings, job_id) == (states.CANCELLED, 1, "Cancelled while waiting to retry")
    # The delayed delivery comes: it finds the job finished and does not run it.
    later = claim(settings, job_id)
    assert not later.run and later.reason == "finished"
    assert state(settings, job_id)[:2] == (states.CANCELLED, 1)


def test_a_late_retry_of_a_cancelled_attempt_does_not_revive_it(settings: Settings) -> None:
    job_id = new_job(settings)
    with session_scope(settings) as session:
        assert store.cancel_queued(session, job_id)
    assert state(settings, job_id) == (states.CANCELLED, 0, "Cancelled before it started")
    attempts.set_retrying(settings, job_id=job_id, attempt=0, error="x", delay=1)
    assert state(settings, job_id)[0] == states.CANCELLED
    with session_scope(settings) as session:
        assert not store.cancel_queued(session, job_id)  # already finished


def test_the_time_window_counts_finished_jobs_by_when_they_finished(settings: Settings) -> None:
    now = utcnow()
    made = {}
    for name, created_ago, finished_ago in (
        ("long job, just finished", timedelta(days=2), timedelta(minutes=10)),
        ("finished 90 min ago", timedelta(hours=2), timedelta(minutes=90)),
        ("queued 2 days ago", timedelta(days=2), None),
        ("queued just now", timedelta(0), None),
    ):
        made[name] = job_id = new_job(settings)
        with session_scope(settings) as session:
            job = store.get_job(session, job_id)
            assert job is not None
            job.created_at = now - created_ago
            if finished_ago is not None:
                job.state, job.finished_at = states.SUCCESS, now - finished_ago
    with session_scope(settings) as session:
        rows, total = store.list_jobs(
            session, store.JobFilter(since=timedelta(hours=1)), limit=10, offset=0
        )
    found = {name for name, job_id in made.items() if job_id in {r.id for r in rows}}
    assert found == {"long job, just finished", "queued just now"} and total == 2
