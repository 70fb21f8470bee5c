"""Fair share across projects (jobs/fairshare.py) on a real SQLite database, Celery faked."""

from __future__ import annotations

import random
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from synapse.config import Settings
from synapse.db.engine import session_scope
from synapse.db.models import Job, JobLog, QueueState, utcnow
from synapse.jobs import attempts, fairshare, states, store, workers
from synapse.jobs.lost import lost_queued
from tests.support.local import clear_environment, sqlite_settings


class FakeCelery:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def send_task(self, name: str, *args: Any, **kwargs: Any) -> None:
        with self.lock:
            self.sent.append({"name": name, **kwargs})

    def ids(self) -> list[str]:
        return [str(call["task_id"]) for call in self.sent]


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    fairshare.forget_limit()
    return sqlite_settings(
        tmp_path,
        monkeypatch,
        heartbeat_interval=1,
        visibility_timeout=30,
        retry_backoff_max=1,
        project_concurrency=1,
    )


@pytest.fixture
def celery() -> FakeCelery:
    return FakeCelery()


def add(
    settings: Settings,
    job_id: str,
    project: str | None = "p",
    queue: str = "default",
    **values: Any,
) -> None:
    with session_scope(settings) as session:
        store.add_job(
            session,
            job_id=job_id,
            task_name="t",
            params={"project_id": project} if project else {},
            queue=queue,
            project_key=project,
        )
    if values:
        with session_scope(settings) as session:
            session.execute(update(Job).where(Job.id == job_id).values(**values))


def row(settings: Settings, job_id: str) -> Job:
    with session_scope(settings) as session:
        found = session.get(Job, job_id)
        assert found is not None
        return found


def start(settings: Settings, celery: FakeCelery, job_id: str) -> bool:
    """What JobTask does with a delivery: claim, then the fair-share gate."""
    claim = attempts.claim_attempt(
        settings, job_id=job_id, task_name="t", params={}, queue="default", worker="w"
    )
    assert claim.run, claim
    if claim.project_key is None:
        return True
    return fairshare.admit(
        settings, celery, job_id=job_id, project_key=claim.project_key, attempt=claim.attempts
    )


def end(settings: Settings, celery: FakeCelery, job_id: str) -> None:
    job = row(settings, job_id)
    assert attempts.finish(
        settings, job_id=job_id, state=states.SUCCESS, message="Complete", attempt=job.attempts
    )
    fairshare.slot_freed(settings, celery, project_key=job.project_key)


# -- the limit ---------------------------------------------------------------------------------


def test_the_setting_reads_blank_and_zero_as_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clear_environment(monkeypatch)
    for raw, expected in (("", None), ("0", 0), ("3", 3)):
        monkeypatch.setenv("SYNAPSE_PROJECT_CONCURRENCY", raw)
        assert Settings(_env_file=None).project_concurrency == expected  # type: ignore[call-arg]
    monkeypatch.setenv("SYNAPSE_PROJECT_CONCURRENCY", "-1")
    with pytest.raises(ValueError):
        Settings(_env_file=None)  # type: ignore[call-arg]


def live(concurrency: int) -> workers.WorkerInfo:
    now = utcnow()
    return workers.WorkerInfo(
        name=f"w{concurrency}@h", hostname="h", pid=1, concurrency=concurrency, queues=[],
        configured_queues=[], active=[], rss_bytes=0, last_seen=now, started_at=now,
    )  # fmt: skip


def test_the_default_is_half_the_live_slots_at_least_one_and_cached(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert fairshare.project_limit(settings) == 1  # set: no look at the workers
    unset = settings.model_copy(update={"project_concurrency": 0})
    listed: list[list[workers.WorkerInfo]] = [[live(4), live(2)]]
    calls = []

    def fake_list(_settings: Settings) -> list[workers.WorkerInfo]:
        calls.append(1)
        return listed[0]

    monkeypatch.setattr(workers, "list_workers", fake_list)
    assert fairshare.project_limit(unset) == 3
    listed[0] = [live(1)]
    assert fairshare.project_limit(unset) == 3 and len(calls) == 1  # cached
    fairshare.forget_limit()
    assert fairshare.project_limit(unset) == 1  # half of 1, at least 1
    listed[0] = []
    fairshare.forget_limit()
    assert fairshare.project_limit(unset) == max(1, unset.worker_concurrency // 2)


# -- the gate ----------------------------------------------------------------------------------


def test_a_job_beyond_its_projects_limit_steps_back_to_waiting(
    settings: Settings, celery: FakeCelery
) -> None:
    add(settings, "a1")
    add(settings, "a2")
    add(settings, "b1", project="q")
    add(settings, "free", project=None)
    assert start(settings, celery, "a1")
    assert not start(settings, celery, "a2")
    assert start(settings, celery, "b1")  # another project's job is not kept waiting
    assert start(settings, celery, "free")  # nor a job without a project
    waiting = row(settings, "a2")
    assert (waiting.state, waiting.attempts, waiting.started_at, waiting.heartbeat_at) == (
        states.QUEUED,
        0,
        None,
        None,
    )
    assert waiting.message == "Waiting: project p is at its limit of 1 slot"
    assert fairshare.is_waiting(waiting.message)
    with session_scope(settings) as session:
        lines = session.scalars(select(JobLog.message).where(JobLog.job_id == "a2")).all()
    assert lines == [waiting.message]
    assert celery.sent == []  # no free slot: nothing sent again


def test_a_retry_steps_back_to_retrying_and_is_sent_again_with_its_retries(
    settings: Settings, celery: FakeCelery
) -> None:
    add(settings, "a1")
    add(settings, "a2", state=states.RETRYING, attempts=2, error="boom")
    assert start(settings, celery, "a1")
    assert not start(settings, celery, "a2")
    back = row(settings, "a2")
    assert (back.state, back.attempts) == (states.RETRYING, 2)
    end(settings, celery, "a1")
    assert celery.ids() == ["a2"] and celery.sent[0]["retries"] == 2
    assert start(settings, celery, "a2")
    assert row(settings, "a2").attempts == 3


# -- the release -------------------------------------------------------------------------------


def test_an_ending_job_sends_its_projects_oldest_waiting_job_once(
    settings: Settings, celery: FakeCelery
) -> None:
    for name in ("a1", "a2", "a3"):
        add(settings, name, queue="bulk")
    assert start(settings, celery, "a1")
    assert not start(settings, celery, "a2")
    assert not start(settings, celery, "a3")
    end(settings, celery, "a1")
    assert celery.ids() == ["a2"]
    assert celery.sent[0] | {"args": None} == {
        "name": "t", "args": None, "kwargs": {"project_id": "p"}, "task_id": "a2",
        "queue": "bulk", "retries": 0,
    }  # fmt: skip
    assert row(settings, "a2").message == "Queued: sent again, project p has a free slot"
    # The slot is promised to a2 until it starts: neither an end elsewhere nor the sweep sends
    # a3, and a2 is never sent twice.
    fairshare.slot_freed(settings, celery, project_key="p")
    assert fairshare.sweep(settings, celery) == 0
    assert celery.ids() == ["a2"]
    assert start(settings, celery, "a2")
    end(settings, celery, "a2")
    assert celery.ids() == ["a2", "a3"]


def test_the_release_takes_urgent_before_default_before_bulk_then_oldest(
    settings: Settings, celery: FakeCelery
) -> None:
    limit3 = settings.model_copy(update={"project_concurrency": 3})
    marker = fairshare.waiting_message("p", 3)
    t0 = utcnow() - timedelta(minutes=10)
    for i, (name, queue) in enumerate(
        [("b-old", "bulk"), ("d-old", "default"), ("d-new", "default"), ("u-new", "urgent")]
    ):
        add(limit3, name, queue=queue, message=marker, created_at=t0 + timedelta(seconds=i))
    assert fairshare.release(limit3, celery, project_key="p") == 3
    assert celery.ids() == ["u-new", "d-old", "d-new"]


def test_the_release_leaves_paused_queues_and_other_projects_alone(
    settings: Settings, celery: FakeCelery
) -> None:
    add(settings, "p-bulk", queue="bulk", message=fairshare.waiting_message("p", 1))
    add(settings, "q-def", project="q", message=fairshare.waiting_message("q", 1))
    with session_scope(settings) as session:
        session.add(QueueState(name="bulk", paused=True, changed_at=utcnow(), changed_by="t"))
    assert fairshare.release(settings, celery, project_key="p") == 0
    assert fairshare.sweep(settings, celery) == 1
    assert celery.ids() == ["q-def"]


def test_the_sweep_frees_the_slot_of_a_lost_worker(settings: Settings, celery: FakeCelery) -> None:
    add(settings, "a1")
    add(settings, "a2")
    assert start(settings, celery, "a1")
    assert not start(settings, celery, "a2")
    # a1's worker died: its heartbeat was cleared (or went stale); nothing ended, so only the
    # sweep sees the free slot.
    with session_scope(settings) as session:
        session.execute(update(Job).where(Job.id == "a1").values(heartbeat_at=None))
    assert fairshare.sweep(settings, celery) == 1
    assert celery.ids() == ["a2"]


def test_two_releases_at_once_never_send_one_job_twice(
    settings: Settings, celery: FakeCelery
) -> None:
    many = settings.model_copy(update={"project_concurrency": 50})
    for i in range(40):
        add(many, f"w{i:02d}", message=fairshare.waiting_message("p", 50))
    threads = [
        threading.Thread(target=fairshare.release, args=(many, celery), kwargs={"project_key": "p"})
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(celery.ids()) == [f"w{i:02d}" for i in range(40)]


def test_waiting_jobs_are_not_lost_queued_jobs(settings: Settings) -> None:
    old = utcnow() - timedelta(hours=1)
    add(settings, "a1", message=fairshare.waiting_message("p", 1), created_at=old)
    assert lost_queued(settings, older_than=60) == []


def test_a_helper_takes_a_slot_beyond_the_limit_only_while_nobody_waits(
    settings: Settings, celery: FakeCelery
) -> None:
    assert fairshare.helper_may_run(settings, "p")
    assert fairshare.helper_may_run(settings, None)
    add(settings, "a1")
    assert start(settings, celery, "a1")
    assert fairshare.helper_may_run(settings, "p")  # at its limit, but no one else waits
    add(settings, "a2")  # the project's own next job does not count as someone else
    assert fairshare.helper_may_run(settings, "p")
    add(settings, "b1", project="q")  # another project's job waits: the slot is for it
    assert not fairshare.helper_may_run(settings, "p")
    assert fairshare.helper_may_run(settings, "q")
    with session_scope(settings) as session:
        session.execute(update(Job).where(Job.id == "b1").values(state="CANCELLED"))
    add(settings, "n1", project=None)  # a job of no project waits as well
    assert not fairshare.helper_may_run(settings, "p")


# -- no overshoot under concurrent claims ------------------------------------------------------


def run_storm(settings: Settings, *, jobs: int, threads: int) -> int:
    """`threads` workers deliver `jobs` jobs of one project at once, and whatever the releases
    send again; answers the most that ran at the same time. Every job must end SUCCESS."""
    celery = FakeCelery()
    ids = [f"s{i:03d}" for i in range(jobs)]
    for job_id in ids:
        add(settings, job_id)
    deliveries = list(ids)
    lock = threading.Lock()
    running = [0, 0]  # now, most
    barrier = threading.Barrier(threads)

    def worker() -> None:
        barrier.wait()
        idle_since = time.monotonic()
        while time.monotonic() - idle_since < 3:
            with celery.lock:
                fresh, celery.sent = celery.ids(), []
            with lock:
                deliveries.extend(fresh)
                job_id = deliveries.pop(0) if deliveries else None
            if job_id is None:
                fairshare.sweep(settings, celery)
                time.sleep(0.01)
                continue
            idle_since = time.monotonic()
            claim = attempts.claim_attempt(
                settings, job_id=job_id, task_name="t", params={}, queue="default", worker="w"
            )
            if not claim.run:
                continue
            if not fairshare.admit(
                settings, celery, job_id=job_id, project_key="p", attempt=claim.attempts
            ):
                continue
            with lock:
                running[0] += 1
                running[1] = max(running[1], running[0])
            time.sleep(random.uniform(0, 0.01))
            with lock:
                running[0] -= 1
            assert attempts.finish(
                settings,
                job_id=job_id,
                state=states.SUCCESS,
                message="Complete",
                attempt=claim.attempts,
            )
            fairshare.slot_freed(settings, celery, project_key="p")

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    with session_scope(settings) as session:
        done = session.scalars(select(Job.state).where(Job.id.in_(ids))).all()
    assert sorted(done) == [states.SUCCESS] * jobs, "a job was left waiting"
    return running[1]


def test_concurrent_claims_of_one_project_never_exceed_the_limit(settings: Settings) -> None:
    limit2 = settings.model_copy(update={"project_concurrency": 2})
    most = run_storm(limit2, jobs=40, threads=6)
    assert 1 <= most <= 2


class FakeRedis:
    def __init__(self) -> None:
        self.keys: set[str] = set()

    def set(self, key: str, _value: str) -> None:
        self.keys.add(key)

    def delete(self, key: str) -> None:
        self.keys.discard(key)

    def exists(self, key: str) -> int:
        return int(key in self.keys)

    def pipeline(self, **_: Any) -> Any:
        raise fairshare.redis.ConnectionError("not here")

    def publish(self, *_: Any) -> None:
        return None


def test_the_end_of_a_job_looks_in_the_database_only_when_the_hint_says_one_waits(
    settings: Settings, celery: FakeCelery, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeRedis()
    monkeypatch.setattr(fairshare, "get_redis", lambda _settings: fake)
    looks = []
    real = fairshare._free_and_waiting

    def counted(*args: Any) -> Any:
        looks.append(1)
        return real(*args)

    monkeypatch.setattr(fairshare, "_free_and_waiting", counted)
    add(settings, "a1")
    add(settings, "a2")
    add(settings, "a3")
    assert start(settings, celery, "a1")
    end(settings, celery, "a1")
    assert looks == []  # nothing waits: one EXISTS, no database look
    assert start(settings, celery, "a2")
    assert not start(settings, celery, "a3")  # steps back: the hint is set
    assert fake.keys == {fairshare.hint_key(settings, "p")}
    looks.clear()
    end(settings, celery, "a2")
    assert looks == [1] and celery.ids() == ["a3"]
    assert fake.keys == set()  # none is left waiting: the hint is cleared
    assert start(settings, celery, "a3")
    end(settings, celery, "a3")
    assert looks == [1]
