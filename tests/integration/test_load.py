"""Load on the embedded default: many concurrent uploads on SQLite with 2 workers."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.support.csvdata import assets_csv
from tests.support.system import running_system
from tests.support.waiting import wait_for

UPLOADS = 200


def test_200_concurrent_uploads_on_sqlite(
    redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    base = tmp_path_factory.mktemp("load")
    url = f"sqlite:///{base / 'load' / 'synapse.db'}"
    with running_system("load", database_url=url, redis_url=redis_url, base=base) as system:
        run = uuid.uuid4().hex[:6]
        data = assets_csv(100)

        def upload(i: int) -> httpx.Response:
            with httpx.Client(base_url=system.base_url, timeout=120) as client:
                return client.post(
                    "/api/v1/ingestion/upload-csv",
                    files={"file": (f"f{i}.csv", data, "text/csv")},
                    data={"project_id": f"load-{run}-{i % 20}"},
                )

        with ThreadPoolExecutor(max_workers=UPLOADS) as pool:
            responses = list(pool.map(upload, range(UPLOADS)))
        assert [r.status_code for r in responses] == [202] * UPLOADS, {
            r.status_code: r.text for r in responses if r.status_code != 202
        }
        ids = [r.json()["job_id"] for r in responses]

        def finished() -> dict[str, int] | None:
            with system.client() as client:
                listed = client.get(
                    "/api/v1/jobs",
                    params={"state": "completed", "limit": 1, "type": "import_csv_assets"},
                ).json()["total"]
                failed = client.get("/api/v1/jobs", params={"state": "failed", "limit": 1}).json()
            assert failed["total"] == 0, failed
            return {"done": listed} if listed >= UPLOADS else None

        wait_for(finished, timeout=300, interval=0.5, what=f"{UPLOADS} imports")
        states = {system.job(job_id)["state"] for job_id in ids}
        assert states == {"SUCCESS"}
        for name in ("worker", "api"):
            assert "database is locked" not in (system.log_dir / f"{name}.log").read_text()
        with system.client() as client:
            totals = {
                client.get(f"/api/v1/projects/load-{run}-{p}/assets").json()["total"]
                for p in range(20)
            }
        assert totals == {100}
