"""`synapse up` as a newcomer runs it: the whole system on one machine, embedded Redis + SQLite."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psutil

from tests.e2e.conftest import UpInstance
from tests.support.csvdata import assets_csv
from tests.support.waiting import wait_for

MakeInstance = Callable[[str], UpInstance]


def job_status(base_url: str, job_id: str) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{base_url}/api/v1/ingestion/job-status/{job_id}").json()
    return body


def wait_success(base_url: str, job_id: str) -> dict[str, Any]:
    return wait_for(
        lambda: (s := job_status(base_url, job_id))["status"] in ("SUCCESS", "FAILURE") and s,
        timeout=60,
        what=f"job {job_id}",
    )


def test_spec_curl_lines_and_job_service_work_unchanged(
    make_instance: MakeInstance, tmp_path: Path
) -> None:
    up = make_instance("spec")
    up.start()
    data = tmp_path / "test_data.csv"
    data.write_bytes(assets_csv(3000))

    # The spec's verification plan, word for word but for the port.
    out = subprocess.run(
        [
            "curl", "-s", "-X", "POST",
            f"http://localhost:{up.port}/api/v1/ingestion/upload-csv",
            "-F", "file=@test_data.csv",
            "-F", "project_id=proj-001",
        ],
        cwd=tmp_path, capture_output=True, check=True, timeout=30,
    )  # fmt: skip
    queued = json.loads(out.stdout)
    assert queued["status"] == "QUEUED" and queued["job_id"] and queued["message"]
    wait_success(up.base_url, queued["job_id"])
    out = subprocess.run(
        ["curl", "-s", f"http://localhost:{up.port}/api/v1/ingestion/job-status/{queued['job_id']}"],
        capture_output=True, check=True, timeout=30,
    )  # fmt: skip
    done = json.loads(out.stdout)
    assert done["status"] == "SUCCESS" and done["result"]["created_count"] == 3000

    # jobService.ts: FormData with `file` and `project_id`, then response.json(); then GET.
    with data.open("rb") as fh:
        response = httpx.post(
            f"{up.base_url}/api/v1/ingestion/upload-csv",
            files={"file": ("test_data.csv", fh)},
            data={"project_id": "proj-001"},
        )
    assert response.is_success
    job_id = response.json()["job_id"]
    status = wait_success(up.base_url, job_id)
    assert status["status"] == "SUCCESS"
    assert status["result"]["unchanged_count"] == 3000  # the same file again: nothing to write
    assert status["result"]["updated_count"] == 0
    assert set(status) >= {"status", "percent", "message", "result"}

    assert httpx.get(f"{up.base_url}/api/v1/ingestion/job-status/abc-123").status_code == 404
    assert "SYNAPSE" in httpx.get(up.base_url).text


def test_two_instances_side_by_side_survive_a_crash_and_stop_cleanly(
    make_instance: MakeInstance,
) -> None:
    first, second = make_instance("a"), make_instance("b")
    first.start()
    second.start()
    a_job = httpx.post(
        f"{first.base_url}/api/v1/ingestion/upload-csv",
        files={"file": ("a.csv", assets_csv(200))},
        data={"project_id": "alpha"},
    ).json()["job_id"]
    b_job = httpx.post(
        f"{second.base_url}/api/v1/ingestion/upload-csv",
        files={"file": ("b.csv", assets_csv(300))},
        data={"project_id": "beta"},
    ).json()["job_id"]
    assert wait_success(first.base_url, a_job)["result"]["created_count"] == 200
    assert wait_success(second.base_url, b_job)["result"]["created_count"] == 300
    # Separate data folders, Redis servers and databases: neither sees the other's job.
    assert httpx.get(f"{second.base_url}/api/v1/jobs/{a_job}").status_code == 404
    assert httpx.get(f"{first.base_url}/api/v1/jobs/{b_job}").status_code == 404
    assert (first.data_dir / "redis" / "appendonly.aof").exists() or list(
        (first.data_dir / "redis").glob("appendonlydir/*")
    ), "embedded Redis keeps an append-only file"

    # A crashed worker is restarted by the supervisor.
    worker = first.child("worker")
    worker.kill()
    wait_for(
        lambda: first.child("worker").pid != worker.pid,
        timeout=30,
        what="a new worker process",
    )
    wait_for(first.ready, timeout=60, interval=0.25, what="the restarted worker")
    again = httpx.post(
        f"{first.base_url}/api/v1/ingestion/upload-csv",
        files={"file": ("a.csv", assets_csv(250))},
        data={"project_id": "alpha"},
    ).json()["job_id"]
    result = wait_success(first.base_url, again)["result"]
    assert (result["created_count"], result["updated_count"], result["unchanged_count"]) == (
        50,
        0,
        200,
    )

    # SIGTERM (and Ctrl-C) stop everything: no process of either tree is left.
    assert first.stop(signal.SIGTERM) == 0
    assert second.stop(signal.SIGINT) == 0
    assert first.leftovers() == [] and second.leftovers() == []
    assert len(first.seen) >= 5  # redis, worker (+ pool), beat, api were all watched
    assert not any(
        str(first.data_dir) in " ".join(p.cmdline())
        or str(second.data_dir) in " ".join(p.cmdline())
        for p in psutil.process_iter()
        if p.pid != 0 and _readable(p)
    )


def _readable(proc: psutil.Process) -> bool:
    try:
        proc.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False
    return True


def test_restart_finds_jobs_where_they_were(make_instance: MakeInstance) -> None:
    up = make_instance("restart")
    up.start()
    job_id = httpx.post(
        f"{up.base_url}/api/v1/ingestion/upload-csv",
        files={"file": ("a.csv", assets_csv(100))},
        data={"project_id": "keep"},
    ).json()["job_id"]
    wait_success(up.base_url, job_id)
    assert up.stop() == 0
    up.proc = None
    up.start()
    assert job_status(up.base_url, job_id)["status"] == "SUCCESS"
    assert httpx.get(f"{up.base_url}/api/v1/projects/keep/assets").json()["total"] == 100
