"""Cancelling a job that is not running, on a real SQLite file: it never starts afterwards."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from synapse.config import Settings
from synapse.db.engine import session_scope
from synapse.db.migrate import upgrade
from synapse.jobs import states, store


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name in list(os.environ):
        if name.upper().startswith("SYNAPSE_") or name.upper() in ("DATABASE_URL", "REDIS_URL"):
            monkeypatch.delenv(name)
    settings = Settings(data_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    upgrade(settings)
    return settings


def new_job(settings: Settings) -> str:
    job_id = str(uuid.uuid4())
    with session_scope(settings) as session:
        store.add_job(
            session, job_id=job_id, task_name="t", params={}, queue="default", project_key=None
        )
    return job_id


def claim(settings: Settings, job_id: str) -> store.Claim:
    return store.claim_attempt(
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
    store.set_retrying(settings, job_id=job_id, attempt=1, error="OperationalError: x", delay=30)
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
    store.set_retrying(settings, job_id=job_id, attempt=0, error="x", delay=1)
    assert state(settings, job_id)[0] == states.CANCELLED
    with session_scope(settings) as session:
        assert not store.cancel_queued(session, job_id)  # already finished
