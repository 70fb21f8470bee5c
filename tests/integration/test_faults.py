"""Fault injection against real workers, Redis, SQLite and PostgreSQL.

Each test breaks something for real (SIGKILL, injected transient faults, cancel) and checks
that the job ends once, with the same database result as an undisturbed run.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.csvdata import assets_csv
from tests.support.services import postgres_database
from tests.support.system import EventCollector, System, running_system
from tests.support.waiting import wait_for

BIG = 200_000


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def faulty(
    request: pytest.FixtureRequest, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[System]:
    """A system of its own, since these tests kill its workers."""
    base = tmp_path_factory.mktemp("faults")
    options: dict[str, Any] = {"redis_url": redis_url, "base": base, "SYNAPSE_MAX_UPLOAD_MB": "20"}
    if request.param == "sqlite":
        url = f"sqlite:///{base / 'sqlite-faults' / 'synapse.db'}"
        with running_system("sqlite-faults", database_url=url, **options) as system:
            yield system
    else:
        with (
            postgres_database() as url,
            running_system("postgresql-faults", database_url=url, **options) as system,
        ):
            yield system


@pytest.fixture(scope="module")
def big_csv() -> bytes:
    return assets_csv(BIG)


def total_assets(system: System, key: str) -> int:
    with system.client() as client:
        response = client.get(f"/api/v1/projects/{key}/assets", params={"limit": 1})
        return int(response.json()["total"]) if response.status_code == 200 else 0


def logs(system: System, job_id: str) -> list[str]:
    with system.client() as client:
        return [x["message"] for x in client.get(f"/api/v1/jobs/{job_id}/logs").json()["items"]]


def running_past(system: System, job_id: str, percent: int) -> dict[str, Any]:
    return wait_for(
        lambda: (j := system.job(job_id))["state"] == "RUNNING" and j["percent"] >= percent and j,
        timeout=60,
        interval=0.02,
        what=f"job {job_id} past {percent}%",
    )


def worker_pid(job: dict[str, Any]) -> int:
    return int(job["worker"].rsplit(" pid ", 1)[1])


def test_sigkill_of_the_pool_process_mid_import(faulty: System, big_csv: bytes) -> None:
    key = f"kill-child-{uuid.uuid4().hex[:6]}"
    job_id = faulty.upload(big_csv, project=key).json()["job_id"]
    events = EventCollector(f"{faulty.ws_url}?job_id={job_id}")
    job = running_past(faulty, job_id, 10)
    os.kill(worker_pid(job), signal.SIGKILL)

    done = faulty.wait_job(job_id, timeout=120)
    live = [e for e in events.wait_final(job_id) if e["action_type"] == "LOG"]
    events.close()
    assert any("Worker lost" in e["message"] for e in live)  # shown live, not only kept
    assert done["state"] == "SUCCESS", done
    assert done["attempts"] == 2
    assert done["result"]["created_count"] == BIG
    assert total_assets(faulty, key) == BIG
    assert any("Worker lost" in line for line in logs(faulty, job_id))
    print(
        f"[figure] pool process SIGKILL: attempts={done['attempts']} "
        f"total={done['duration_seconds']}s for {BIG} rows"
    )


def test_sigkill_of_the_whole_worker_mid_import(faulty: System, big_csv: bytes) -> None:
    key = f"kill-worker-{uuid.uuid4().hex[:6]}"
    job_id = faulty.upload(big_csv, project=key).json()["job_id"]
    running_past(faulty, job_id, 10)
    worker = faulty.processes["worker"]
    os.killpg(worker.pid, signal.SIGKILL)  # the main process and its pool: a lost machine
    worker.wait()
    started = time.monotonic()
    faulty.start_worker()

    done = faulty.wait_job(job_id, timeout=120)
    assert done["state"] == "SUCCESS", done
    assert done["attempts"] == 2
    assert done["result"]["created_count"] == BIG
    assert total_assets(faulty, key) == BIG
    # Redelivered when its lease ran out (6 s here), not after hours.
    recovered = time.monotonic() - started
    assert recovered < 60
    print(f"[figure] whole worker SIGKILL: SUCCESS {recovered:.1f}s after the new worker started")


def test_a_job_that_always_kills_its_worker_is_quarantined(faulty: System) -> None:
    job_id = faulty.submit("test.kills_its_worker")
    done = faulty.wait_job(job_id, timeout=120)
    assert done["state"] == "FAILURE"
    assert "worker lost repeatedly" in done["error"]
    assert done["attempts"] == 3
    faulty.wait_ready()  # the worker itself lives on


def test_transient_fault_twice_then_healed_retries_with_backoff(faulty: System) -> None:
    events = EventCollector(faulty.ws_url)
    try:
        key = f"{faulty.settings.redis_prefix}:flaky:{uuid.uuid4().hex}"
        job_id = faulty.submit("test.flaky", key=key, failures=2)
        done = faulty.wait_job(job_id, timeout=60)
        stream = events.wait_final(job_id)
    finally:
        events.close()
    assert done["state"] == "SUCCESS", done
    assert done["attempts"] == 3 and done["result"] == {"tries": 3}
    retries = [line for line in logs(faulty, job_id) if "retrying in" in line]
    assert len(retries) == 2, logs(faulty, job_id)
    assert all("injected fault" in line for line in retries)
    states = [e["context"]["state"] for e in stream if e["action_type"] == "STATE"]
    assert states.count("RETRYING") == 2 and states[-1] == "SUCCESS"


def test_bad_input_fails_after_one_attempt(faulty: System) -> None:
    job_id = faulty.submit("test.bad_input")
    done = faulty.wait_job(job_id)
    assert done["state"] == "FAILURE" and done["attempts"] == 1
    assert "power_kw is not a number" in done["error"]
    assert done["traceback"] is None


def test_cancel_a_queued_and_a_running_import(faulty: System, big_csv: bytes) -> None:
    blockers = [faulty.submit("test.sleeper", seconds=60) for _ in range(faulty.concurrency)]
    for blocker in blockers:
        running_past(faulty, blocker, 0)
    key = f"cancel-{uuid.uuid4().hex[:6]}"
    queued = faulty.upload(assets_csv(100), project=key).json()["job_id"]
    with faulty.client() as client:
        response = client.post(f"/api/v1/jobs/{queued}/cancel")
        assert response.status_code == 200 and response.json()["state"] == "CANCELLED"
        for blocker in blockers:
            assert client.post(f"/api/v1/jobs/{blocker}/cancel").status_code == 200
    for blocker in blockers:
        assert faulty.wait_job(blocker)["state"] == "CANCELLED"

    running = faulty.upload(big_csv, project=key).json()["job_id"]
    running_past(faulty, running, 5)
    asked = time.monotonic()
    with faulty.client() as client:
        assert client.post(f"/api/v1/jobs/{running}/cancel").status_code == 200
    done = faulty.wait_job(running)
    assert done["state"] == "CANCELLED"
    latency = time.monotonic() - asked
    assert latency < 3
    print(f"[figure] cancel of a running 200k-row import: CANCELLED after {latency:.2f}s")
    # The queued job never started; nothing of either import was written.
    assert faulty.job(queued)["state"] == "CANCELLED" and faulty.job(queued)["attempts"] == 0
    assert total_assets(faulty, key) == 0
    with faulty.client() as client:
        again = client.post(f"/api/v1/jobs/{running}/cancel")
        assert again.status_code == 409 and "already CANCELLED" in again.json()["detail"]
        retry = client.post(f"/api/v1/jobs/{queued}/retry")
    assert retry.status_code == 202
    retried = faulty.wait_job(retry.json()["id"])
    assert retried["state"] == "SUCCESS" and retried["retry_of"] == queued
    assert total_assets(faulty, key) == 100
    with faulty.client() as client:
        assert client.post(f"/api/v1/jobs/{retried['id']}/retry").status_code == 409


def test_urgent_overtakes_queued_bulk_on_one_slot(
    redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    base = tmp_path_factory.mktemp("priority")
    url = f"sqlite:///{base / 'priority' / 'synapse.db'}"
    with running_system(
        "priority", database_url=url, redis_url=redis_url, base=base, concurrency=1
    ) as system:
        blocker = system.submit("test.sleeper", seconds=30)
        running_past(system, blocker, 0)
        bulk = [
            system.upload(assets_csv(50), project="prio", priority="bulk").json()["job_id"]
            for _ in range(6)
        ]
        default = system.upload(assets_csv(50), project="prio").json()["job_id"]
        urgent = system.upload(assets_csv(50), project="prio", priority="urgent").json()["job_id"]
        with system.client() as client:
            client.post(f"/api/v1/jobs/{blocker}/cancel")
        jobs = {j: system.wait_job(j) for j in [urgent, default, *bulk]}
        order = sorted(jobs, key=lambda j: jobs[j]["started_at"])
        assert order[0] == urgent, [jobs[j]["queue"] for j in order]
        assert order[1] == default
        assert all(jobs[j]["state"] == "SUCCESS" for j in jobs)


def test_cancel_and_retry_answer_409_where_they_do_not_apply(faulty: System) -> None:
    job_id = faulty.submit("test.bad_input")
    faulty.wait_job(job_id)
    with faulty.client() as client:
        assert client.post(f"/api/v1/jobs/{job_id}/cancel").status_code == 409
        assert client.post(f"/api/v1/jobs/{uuid.uuid4()}/cancel").status_code == 404
        assert client.post(f"/api/v1/jobs/{uuid.uuid4()}/retry").status_code == 404


def orphan(system: System, *, state: str, queue: str, minutes_ago: float) -> str:
    """A job row of `test.sleeper` with no message anywhere, as if Redis had lost it."""
    from datetime import timedelta

    from synapse.db.engine import session_scope
    from synapse.db.models import utcnow
    from synapse.jobs import store

    job_id = str(uuid.uuid4())
    then = utcnow() - timedelta(minutes=minutes_ago)
    with session_scope(system.settings) as session:
        job = store.add_job(
            session,
            job_id=job_id,
            task_name="test.sleeper",
            params={"seconds": 0.2},
            queue=queue,
            project_key=None,
            state=state,
        )
        job.created_at = then
        if state == "RUNNING":
            job.attempts, job.heartbeat_at = 1, then
    return job_id


def test_a_running_job_whose_worker_and_message_are_gone_is_sent_again(faulty: System) -> None:
    """The sweep (a beat task) finds a RUNNING job with a long-dead heartbeat and no message."""
    job_id = orphan(faulty, state="RUNNING", queue="default", minutes_ago=10)
    faulty.celery().send_task("synapse.sweep_abandoned_jobs", queue="default")
    done = faulty.wait_job(job_id, timeout=60)
    assert done["state"] == "SUCCESS" and done["attempts"] == 2
    assert any("sent again" in line for line in logs(faulty, job_id))


def test_a_queued_job_whose_message_redis_lost_is_sent_again(faulty: System) -> None:
    """A QUEUED row without a message anywhere in Redis (lost with Redis's data) runs after all."""
    job_id = orphan(faulty, state="QUEUED", queue="bulk", minutes_ago=10)
    events = EventCollector(f"{faulty.ws_url}?job_id={job_id}")
    faulty.celery().send_task("synapse.sweep_abandoned_jobs", queue="default")
    done = faulty.wait_job(job_id, timeout=60)
    live = [e for e in events.wait_final(job_id) if e["action_type"] == "LOG"]
    events.close()
    assert any("sent again" in e["message"] for e in live)
    assert done["state"] == "SUCCESS" and done["attempts"] == 1
    assert any("no longer in Redis; sent again" in line for line in logs(faulty, job_id))
