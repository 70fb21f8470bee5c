"""Operations: Flower sees our workers and tasks; every process logs in one JSON format."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.csvdata import assets_csv
from tests.support.system import System, free_port, running_system
from tests.support.waiting import wait_for

FLOWER_USER = "ops"
FLOWER_PASSWORD = f"pw-{uuid.uuid4().hex[:12]}"
TOKEN = f"tok-{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def ops(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    base = tmp_path_factory.mktemp("ops")
    url = f"sqlite:///{base / 'ops' / 'synapse.db'}"
    with running_system(
        "ops",
        database_url=url,
        redis_url=redis_url,
        base=base,
        start=False,
        SYNAPSE_LOG_FORMAT="json",
        SYNAPSE_API_TOKENS=f"{TOKEN}:admin",
        FLOWER_BASIC_AUTH=f"{FLOWER_USER}:{FLOWER_PASSWORD}",
    ) as system:
        system.flower_url = f"http://127.0.0.1:{free_port()}"  # type: ignore[attr-defined]
        system.start()
        system.spawn("beat", "beat")
        system.spawn("flower", "flower", "--port", system.flower_url.rsplit(":", 1)[1])  # type: ignore[attr-defined]
        yield system


def flower_get(system: System, path: str, **params: Any) -> Any:
    url: str = system.flower_url  # type: ignore[attr-defined]
    response = httpx.get(url + path, params=params, auth=(FLOWER_USER, FLOWER_PASSWORD), timeout=10)
    response.raise_for_status()
    return response.json()


def test_flower_sees_our_worker_and_a_finished_task(ops: System) -> None:
    url: str = ops.flower_url  # type: ignore[attr-defined]
    wait_for(lambda: httpx.get(f"{url}/healthcheck", timeout=2).text == "OK", timeout=60)
    assert httpx.get(f"{url}/api/workers", timeout=10).status_code == 401  # basic auth is on
    worker = wait_for(
        lambda: next(
            (n for n, alive in flower_get(ops, "/api/workers", status=True).items() if alive),
            None,
        ),
        timeout=30,
        what="Flower to hear a worker's heartbeat events",
    )
    assert worker.startswith("ops-worker@")
    inspected = flower_get(ops, "/api/workers", refresh=True)
    assert worker in inspected
    assert "import_csv_assets" in json.dumps(inspected[worker].get("registered", []))

    job = ops.import_csv(assets_csv(200), project="flower")
    assert job["state"] == "SUCCESS"

    def finished_in_flower() -> dict[str, Any] | None:
        tasks = flower_get(ops, "/api/tasks")
        task: dict[str, Any] | None = tasks.get(job["id"])
        return task if task and task.get("state") == "SUCCESS" else None

    task = wait_for(finished_in_flower, timeout=30, what="Flower to see the task succeed")
    assert task["name"] == "import_csv_assets"
    assert task["worker"] == worker
    info = flower_get(ops, f"/api/task/info/{job['id']}")
    assert info["state"] == "SUCCESS" and info["received"] and info["succeeded"]


def json_records(system: System, name: str) -> list[dict[str, Any]]:
    text = (system.log_dir / f"{name}.log").read_text(errors="replace")
    records = []
    for line in text.splitlines():
        if line.startswith("{"):
            records.append(json.loads(line))
    return records


def test_every_process_logs_json_in_one_format_without_secrets(ops: System) -> None:
    # A WebSocket client that passes its token in the query string, as a browser would.
    from websockets.sync.client import connect

    with connect(f"{ops.ws_url}?token={TOKEN}", open_timeout=10) as ws:
        ws.send("ping")
        assert json.loads(ws.recv(timeout=10))["action_type"] == "PONG"
    job = ops.import_csv(assets_csv(50), project="logs")
    assert job["state"] == "SUCCESS"

    roles = {"api": "api", "worker": "worker", "beat": "beat", "flower": "flower"}
    for name, role in roles.items():
        records = wait_for(
            lambda n=name: json_records(ops, n) or None, timeout=20, what=f"JSON lines in {name}"
        )
        for record in records:
            assert set(record) >= {"time", "level", "role", "pid", "logger", "message"}, record
            assert record["role"] == role
    worker_records = json_records(ops, "worker")
    assert any(r.get("job_id") == job["id"] for r in worker_records), "task lines carry job_id"
    api_records = json_records(ops, "api")
    assert any("/ws/logs" in r["message"] for r in api_records)
    for name in roles:
        text = (ops.log_dir / f"{name}.log").read_text(errors="replace")
        assert TOKEN not in text and FLOWER_PASSWORD not in text, f"a secret in {name}.log"
