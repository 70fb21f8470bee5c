"""Scale-out on the real Redis and PostgreSQL: 2 API processes, 3 worker processes.

30 imports, uploaded through both APIs, run on all three workers; a WebSocket client on each
API process sees every job's events; one worker is SIGKILLed (its whole process group) while it
runs an import (the uploads still going on), and all 30 still finish once, with exact row
counts.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.support.csvdata import assets_csv
from tests.support.services import postgres_database
from tests.support.system import EventCollector, System, free_port, running_system
from tests.support.waiting import wait_for

JOBS = 30
WORKERS = ("w1", "w2", "w3")


@pytest.fixture
def cluster(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    base = tmp_path_factory.mktemp("scale")
    with (
        postgres_database() as url,
        running_system(
            "scale", database_url=url, redis_url=redis_url, base=base, concurrency=1, start=False
        ) as system,
    ):
        second_port = free_port()
        system.spawn("api-1", "api")
        system.spawn("api-2", "api", "--port", str(second_port))
        for name in WORKERS:
            system.start_worker(name)
        system.second_url = f"http://127.0.0.1:{second_port}"  # type: ignore[attr-defined]
        system.wait_ready()
        wait_for(
            lambda: httpx.get(f"{system.second_url}/readyz", timeout=5).status_code == 200,  # type: ignore[attr-defined]
            timeout=60,
            what="the second API process",
        )
        wait_for(
            lambda: len(system.celery().control.ping(timeout=1.0)) == len(WORKERS),
            timeout=60,
            what="three workers answering",
        )
        yield system


def all_jobs(system: System) -> dict[str, dict[str, Any]]:
    with system.client() as client:
        body = client.get("/api/v1/jobs", params={"limit": 100, "project_id": None}).json()
    return {job["id"]: job for job in body["items"]}


def node(job: dict[str, Any]) -> str:
    return str(job.get("worker") or "").split(" pid ")[0]


def upload_all(cluster: System, urls: list[str]) -> tuple[dict[str, int], dict[str, int]]:
    """30 imports of different sizes, through both API processes in turn."""
    rows = {f"scale-{i:02d}": 9_000 + 37 * i for i in range(JOBS)}
    expected: dict[str, int] = {}
    for i, (project, count) in enumerate(rows.items()):
        response = httpx.post(
            f"{urls[i % 2]}/api/v1/ingestion/upload-csv",
            files={"file": (f"{project}.csv", assets_csv(count, prefix=project))},
            data={"project_id": project},
            timeout=30,
        )
        assert response.status_code == 202, response.text
        expected[response.json()["job_id"]] = count
    return rows, expected


def kill_a_worker_mid_job(cluster: System) -> tuple[str, dict[str, Any]]:
    """Once every worker has taken a job, SIGKILL the first one seen early in an import."""
    taken: set[str] = set()

    def mid_job() -> dict[str, Any] | None:
        jobs = all_jobs(cluster)
        taken.update(node(j).split("@")[0] for j in jobs.values() if j.get("worker"))
        if taken < {f"scale-{name}" for name in WORKERS}:
            return None
        running = (j for j in jobs.values() if j["state"] == "RUNNING" and j["percent"] < 50)
        return next(running, None)

    try:
        doomed = wait_for(mid_job, timeout=90, interval=0.02, what="a worker mid-job")
    except AssertionError as exc:
        states = {i: (j["state"], j["percent"], j["worker"]) for i, j in all_jobs(cluster).items()}
        raise AssertionError(f"{exc}; workers seen: {sorted(taken)}; {states}") from None
    victim = node(doomed)
    proc = cluster.processes[victim.split("@")[0].removeprefix("scale-")]
    os.killpg(proc.pid, signal.SIGKILL)  # the main process and its pool: the whole worker
    proc.wait(timeout=10)
    return victim, doomed


def wait_all_ended(cluster: System, expected: dict[str, int], doomed: str) -> dict[str, Any]:
    def ended() -> dict[str, dict[str, Any]] | None:
        jobs = {i: j for i, j in all_jobs(cluster).items() if i in expected}
        done = len(jobs) == JOBS and all(
            j["state"] in ("SUCCESS", "FAILURE") for j in jobs.values()
        )
        return jobs if done else None

    try:
        jobs: dict[str, Any] = wait_for(ended, timeout=120, interval=0.25, what="all 30 to end")
    except AssertionError as exc:
        states = {i: (j["state"], j["attempts"], j["worker"]) for i, j in all_jobs(cluster).items()}
        logs = "\n".join(f"--- {n}\n{cluster.tail(n, 15)}" for n in WORKERS)
        raise AssertionError(f"{exc}\nkilled during {doomed}\n{states}\n{logs}") from None
    return jobs


def test_two_apis_three_workers_one_killed_mid_run(cluster: System) -> None:
    names = sorted(n for reply in cluster.celery().control.ping(timeout=1.0) for n in reply)
    assert len(set(names)) == 3 and all(n.startswith("scale-w") for n in names), names
    second_url: str = cluster.second_url  # type: ignore[attr-defined]
    watchers = [
        EventCollector(cluster.ws_url),
        EventCollector(second_url.replace("http", "ws") + "/ws/logs"),
    ]
    try:
        # The uploads go on while a worker is picked and killed: with imports this quick, every
        # job could have ended before the last upload, leaving none to kill mid-run.
        with ThreadPoolExecutor(max_workers=1) as pool:
            uploading = pool.submit(upload_all, cluster, [cluster.base_url, second_url])
            victim, doomed = kill_a_worker_mid_job(cluster)
            rows, expected = uploading.result(timeout=300)
        jobs = wait_all_ended(cluster, expected, doomed["id"])
    finally:
        for watcher in watchers:
            watcher.close()

    # Every job ran once to SUCCESS with exactly its rows; the killed one again, elsewhere.
    for job_id, count in expected.items():
        job = jobs[job_id]
        assert job["state"] == "SUCCESS", (job_id, job["error"])
        assert (job["result"]["created_count"], job["result"]["updated_count"]) == (count, 0)
    assert jobs[doomed["id"]]["attempts"] >= 2
    assert node(jobs[doomed["id"]]) != victim
    with cluster.client() as client:
        for project, count in rows.items():
            assets = client.get(f"/api/v1/projects/{project}/assets", params={"limit": 1}).json()
            assert assets["total"] == count, project
    finished_on = {node(j) for j in jobs.values()}
    assert len(finished_on - {victim}) == 2, finished_on  # the other two finished the rest

    # Each API process relayed every job's events to its own WebSocket client.
    for watcher in watchers:
        for job_id in expected:
            seen = watcher.for_job(job_id)
            kinds = {e["action_type"] for e in seen}
            assert {"STATE", "PROGRESS"} <= kinds, (watcher.url, job_id, kinds)
            assert any(
                e["action_type"] == "STATE" and e["context"]["state"] == "SUCCESS" for e in seen
            ), (watcher.url, job_id)
