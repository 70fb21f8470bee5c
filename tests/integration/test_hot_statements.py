"""The job layer's one-statement transactions on a kept connection (db/hot.py), on PostgreSQL.

A worker's pool process runs its claims, heartbeats, progress and end states straight on one
connection it keeps. These tests run the claim tests of tests/unit/test_jobs_claim.py again on
that path, and check what the connection must survive: a server that ended the session (the
statement fails as a transient fault and the next one reconnects; an idle one is pinged first),
and a fork (the child never touches the parent's session).
"""

from __future__ import annotations

import gc
import multiprocessing
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text

from synapse.config import Settings
from synapse.db import hot
from synapse.db.engine import dispose_engines, get_engine, session_scope
from synapse.db.migrate import upgrade
from synapse.jobs import attempts, states
from synapse.jobs.retry import is_transient
from tests.support.local import clear_environment
from tests.support.services import postgres_database
from tests.support.waiting import wait_for

# The claim tests of tests/unit/test_jobs_claim.py, collected here again: they run on the kept
# connection of this module's `settings` fixture.
from tests.unit.test_jobs_claim import (  # noqa: F401
    claim,
    job,
    row,
    test_a_lost_attempt_is_taken_over,
    test_a_queued_job_is_claimed_as_its_first_attempt,
    test_a_retrying_job_is_claimed_as_a_retry,
    test_a_second_delivery_of_a_running_job_is_a_duplicate,
    test_concurrent_deliveries_run_a_job_once,
    test_finished_jobs_and_missing_rows,
    test_one_heartbeat_thread_beats_for_the_running_job,
    test_only_the_claiming_attempt_writes_the_end_state,
    test_progress_is_saved_for_the_running_attempt_only,
)


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with postgres_database() as url:
        upgrade(
            Settings(
                _env_file=None,  # type: ignore[call-arg]
                data_dir=tmp_path_factory.mktemp("hot"),
                database_url=url,
            )
        )
        yield url
        hot.reset()
        dispose_engines()


@pytest.fixture
def settings(database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    clear_environment(monkeypatch)
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path,
        database_url=database,
        heartbeat_interval=0.1,
        visibility_timeout=30,
        retry_backoff_max=1,
    )
    with session_scope(settings) as session:
        session.execute(text("TRUNCATE job_logs, jobs CASCADE"))
    hot.enable()
    try:
        yield settings
    finally:
        hot.reset()


def held_backend(settings: Settings) -> int:
    """The server process behind this process's kept connection."""
    held = hot._held[id(get_engine(settings))]
    assert held.raw is not None and held.raw.dbapi_connection is not None
    return int(held.raw.dbapi_connection.info.backend_pid)


def terminate(database: str, backend: int) -> None:
    """End that session on the server, and wait until it is gone."""
    with psycopg.connect(database, autocommit=True) as conn:
        assert conn.execute("SELECT pg_terminate_backend(%s)", (backend,)).fetchone() == (True,)

        def gone() -> bool:
            found = conn.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (backend,))
            return found.fetchone() is None

        wait_for(gone, timeout=10, what=f"backend {backend} to exit")


def test_the_statements_run_on_one_kept_connection(settings: Settings) -> None:
    job(settings, "a")
    job(settings, "b")
    claim(settings, "a")
    first = held_backend(settings)
    claim(settings, "b")
    attempts.heartbeat(settings, job_id="a", attempt=1)
    assert attempts.finish(settings, job_id="a", state=states.SUCCESS, message="ok", attempt=1)
    assert held_backend(settings) == first
    assert (row(settings, "a").state, row(settings, "b").state) == (states.SUCCESS, states.RUNNING)


def test_without_enable_nothing_is_kept(settings: Settings) -> None:
    hot.reset()
    job(settings, "a")
    assert claim(settings, "a").run
    assert id(get_engine(settings)) not in hot._held
    assert row(settings, "a").state == states.RUNNING


def test_a_session_ended_by_the_server_fails_one_statement_then_reconnects(
    settings: Settings, database: str
) -> None:
    job(settings, "a")
    job(settings, "b")
    claim(settings, "a")
    before = held_backend(settings)
    terminate(database, before)
    with pytest.raises(psycopg.OperationalError) as failed:
        claim(settings, "b")
    assert is_transient(failed.value)  # the delivery is retried, as for any lost connection
    assert row(settings, "b").state == states.QUEUED  # nothing was written
    got = claim(settings, "b")
    assert (got.run, got.attempts) == (True, 1)
    assert held_backend(settings) != before


def test_an_idle_connection_is_pinged_and_replaced_when_gone(
    settings: Settings, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    job(settings, "a")
    job(settings, "b")
    claim(settings, "a")
    before = held_backend(settings)
    terminate(database, before)
    monkeypatch.setattr(hot, "PING_AFTER_IDLE_S", 0.0)
    got = claim(settings, "b")  # no error: the ping found the session gone
    assert (got.run, got.attempts) == (True, 1)
    assert held_backend(settings) != before


def _child(settings: Settings) -> None:
    # What a worker's pool process does at start (jobs/worker_hooks.py), then a claim.
    dispose_engines()
    hot.reset()
    hot.enable()
    assert claim(settings, "child").run
    gc.collect()


def test_a_forked_process_leaves_the_parents_connection_alone(settings: Settings) -> None:
    job(settings, "parent")
    job(settings, "child")
    job(settings, "after")
    assert claim(settings, "parent").run
    before = held_backend(settings)
    process = multiprocessing.get_context("fork").Process(target=_child, args=(settings,))
    process.start()
    process.join(timeout=30)
    assert process.exitcode == 0
    assert row(settings, "child").state == states.RUNNING
    assert claim(settings, "after").run  # on the same session, untouched by the child
    assert held_backend(settings) == before


def test_each_run_is_committed_before_it_returns(settings: Settings, database: str) -> None:
    job(settings, "a")
    claim(settings, "a")
    attempts.save_progress(
        settings, job_id="a", attempt=1, percent=30, current=3, total=10, message="m"
    )
    # Another connection sees it at once: no transaction is left open on the kept one.
    with psycopg.connect(database) as conn:
        found = conn.execute("SELECT percent, message FROM jobs WHERE id = 'a'").fetchone()
    assert found == (30, "m")
    kept = hot._held[id(get_engine(settings))].raw
    assert kept is not None and kept.dbapi_connection is not None
    status = kept.dbapi_connection.info.transaction_status
    assert status == psycopg.pq.TransactionStatus.IDLE


def _life(settings: Settings, job_id: str, *, result: dict[str, object] | None) -> None:
    """Every hot statement once: claim, heartbeat, progress, end state."""
    assert attempts.claim_unpaused(settings, job_id=job_id, worker="w1", queue="default")
    attempts.heartbeat(settings, job_id=job_id, attempt=1)
    attempts.save_progress(
        settings, job_id=job_id, attempt=1, percent=50, current=1, total=2, message="half"
    )
    assert attempts.finish(
        settings,
        job_id=job_id,
        state=states.SUCCESS if result is not None else states.FAILURE,
        message="end",
        result=result,
        error=None if result is not None else "boom",
        progress=(100, 2, 2),
        attempt=1,
    )


def _stored(database: str, job_id: str) -> tuple[object, ...]:
    with psycopg.connect(database) as conn:
        found = conn.execute(
            "SELECT state, attempts, percent, current, total, message, worker, error,"
            " result, result IS NULL, heartbeat_at IS NULL, finished_at IS NOT NULL"
            " FROM jobs WHERE id = %s",
            (job_id,),
        ).fetchone()
    assert found is not None
    return tuple(found)


@pytest.mark.parametrize("result", [{"value": None, "n": [1, "x"]}, None])
def test_both_paths_write_the_same_rows(
    settings: Settings, database: str, result: dict[str, object] | None
) -> None:
    job(settings, "kept")
    job(settings, "pooled")
    _life(settings, "kept", result=result)
    hot.reset()  # the same statements through SQLAlchemy's Connection
    _life(settings, "pooled", result=result)
    assert _stored(database, "kept") == _stored(database, "pooled")
    assert row(settings, "kept").result == result
