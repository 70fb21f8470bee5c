"""The claim of a delivery, the end state and the heartbeat, on a real SQLite database."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from synapse.config import Settings
from synapse.db.engine import session_scope
from synapse.db.models import Job, utcnow
from synapse.jobs import attempts, states, store
from synapse.jobs.heartbeat import Heartbeat
from tests.support.local import sqlite_settings


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    return sqlite_settings(
        tmp_path, monkeypatch, heartbeat_interval=0.1, visibility_timeout=30, retry_backoff_max=1
    )


def job(settings: Settings, job_id: str, **values: Any) -> None:
    with session_scope(settings) as session:
        store.add_job(
            session, job_id=job_id, task_name="t", params={}, queue="default", project_key="p"
        )
    if values:
        with session_scope(settings) as session:
            session.execute(update(Job).where(Job.id == job_id).values(**values))


def row(settings: Settings, job_id: str) -> Job:
    with session_scope(settings) as session:
        found = session.get(Job, job_id)
        assert found is not None
        return found


def claim(settings: Settings, job_id: str) -> attempts.Claim:
    return attempts.claim_attempt(
        settings, job_id=job_id, task_name="t", params={}, queue="default", worker="w1"
    )


def test_a_queued_job_is_claimed_as_its_first_attempt(settings: Settings) -> None:
    job(settings, "j")
    got = claim(settings, "j")
    assert (got.run, got.reason, got.state, got.type, got.project_key, got.attempts) == (
        True,
        "new",
        states.RUNNING,
        "t",
        "p",
        1,
    )
    saved = row(settings, "j")
    assert (saved.state, saved.attempts, saved.worker, saved.message) == (
        states.RUNNING,
        1,
        "w1",
        "Started",
    )
    assert saved.heartbeat_at is not None and saved.started_at is not None


def test_a_retrying_job_is_claimed_as_a_retry(settings: Settings) -> None:
    job(settings, "j", state=states.RETRYING, attempts=2, error="e", next_retry_at=utcnow())
    got = claim(settings, "j")
    assert (got.run, got.reason, got.attempts) == (True, "retry", 3)
    saved = row(settings, "j")
    assert (saved.error, saved.next_retry_at, saved.state) == (None, None, states.RUNNING)


def test_a_second_delivery_of_a_running_job_is_a_duplicate(settings: Settings) -> None:
    job(settings, "j")
    assert claim(settings, "j").run
    again = claim(settings, "j")
    assert (again.run, again.reason, again.attempts) == (False, "duplicate", 1)


def test_a_lost_attempt_is_taken_over(settings: Settings) -> None:
    stale = utcnow() - timedelta(hours=1)
    job(settings, "j", state=states.RUNNING, attempts=1, heartbeat_at=stale)
    got = claim(settings, "j")
    assert (got.run, got.reason, got.attempts) == (True, "lost", 2)
    assert row(settings, "j").lost_count == 1


def test_finished_jobs_and_missing_rows(settings: Settings) -> None:
    job(settings, "done", state=states.SUCCESS, attempts=1)
    job(settings, "cancelled", state=states.CANCELLED)
    assert (claim(settings, "done").run, claim(settings, "done").reason) == (False, "finished")
    assert claim(settings, "cancelled").state == states.CANCELLED
    seeded = claim(settings, "sent-straight-through-celery")
    assert (seeded.run, seeded.reason, seeded.attempts) == (True, "new", 1)


def test_concurrent_deliveries_run_a_job_once(settings: Settings) -> None:
    for n in range(10):
        job(settings, f"j{n}")
        runs: list[bool] = []

        def deliver(job_id: str = f"j{n}", runs: list[bool] = runs) -> None:
            runs.append(claim(settings, job_id).run)

        threads = [threading.Thread(target=deliver) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(runs) == [False, False, False, True]


def test_only_the_claiming_attempt_writes_the_end_state(settings: Settings) -> None:
    job(settings, "j")
    first = claim(settings, "j")
    assert attempts.finish(
        settings,
        job_id="j",
        state=states.SUCCESS,
        message="Complete",
        result={"value": 1},
        progress=(100, 1, 1),
        attempt=first.attempts,
    )
    assert not attempts.finish(
        settings, job_id="j", state=states.FAILURE, message="late", attempt=first.attempts
    )
    saved = row(settings, "j")
    assert (saved.state, saved.result, saved.percent, saved.heartbeat_at) == (
        states.SUCCESS,
        {"value": 1},
        100,
        None,
    )


def test_progress_is_saved_for_the_running_attempt_only(settings: Settings) -> None:
    job(settings, "j")
    attempt = claim(settings, "j").attempts
    attempts.save_progress(
        settings, job_id="j", attempt=attempt, percent=40, current=4, total=10, message="m"
    )
    attempts.save_progress(
        settings, job_id="j", attempt=attempt + 1, percent=90, current=9, total=10, message="x"
    )
    saved = row(settings, "j")
    assert (saved.percent, saved.current, saved.total, saved.message) == (40, 4, 10, "m")


def test_one_heartbeat_thread_beats_for_the_running_job(settings: Settings) -> None:
    for job_id in ("a", "b"):
        job(settings, job_id)
        claim(settings, job_id)
        before = row(settings, job_id).heartbeat_at
        assert before is not None
        with Heartbeat(settings, job_id=job_id, attempt=1):
            time.sleep(0.35)
        after = row(settings, job_id).heartbeat_at
        assert after is not None and after > before
    time.sleep(0.05)  # a beat already under way when the job ended
    ended = row(settings, "b").heartbeat_at
    time.sleep(0.3)
    assert row(settings, "b").heartbeat_at == ended
    beaters = [t for t in threading.enumerate() if t.name == "synapse-job-heartbeat"]
    assert len(beaters) == 1
