"""A cancel at any stage of a large import: the job's end state always matches the database.

Either CANCELLED with nothing written, or — once the import has committed, its point of no
return — SUCCESS with every row, its log saying the cancel came too late.
"""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.support.csvdata import assets_csv
from tests.support.system import EventCollector, System
from tests.support.waiting import wait_for

ROWS = 300_000
STAGES = {
    # stage: the progress message that says the import is in it
    "reading": "Reading file",
    "validating": "Validated",
    "writing": "comparing",
    "rules": "Applying rules",
}
RULE = {
    "name": "big motors",
    "applies_to": ["Motor"],
    "condition": "power_kw > 50",
    "action": {"type": "flag", "severity": "warning", "message": "{tag} is big"},
}


@pytest.fixture(scope="module")
def big_file() -> bytes:
    return assets_csv(ROWS)


def asset_count(client: httpx.Client, key: str) -> int:
    response = client.get(f"/api/v1/projects/{key}/assets", params={"limit": 1})
    return int(response.json()["total"]) if response.status_code == 200 else 0


@pytest.mark.parametrize("stage", list(STAGES))
def test_cancel_at_every_stage_leaves_state_and_database_agreeing(
    system: System, events: EventCollector, big_file: bytes, stage: str
) -> None:
    key = f"cx-{uuid.uuid4().hex[:8]}"
    with system.client() as client:
        if stage == "rules":
            first = system.import_csv(b"tag,type\nSEED-1,Motor\n", project=key)
            assert first["state"] == "SUCCESS"
            made = client.post(f"/api/v1/projects/{key}/rules", json=RULE)
            assert made.status_code == 201, made.text
        # Past the test system's 2 MB upload limit: the file goes where an upload would.
        path = system.settings.uploads_dir / f"{uuid.uuid4().hex}.upload"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(big_file)
        job_id = system.submit("import_csv_assets", project_id=key, file_path=str(path))
        marker = STAGES[stage]
        wait_for(
            lambda: any(marker in e["message"] for e in events.for_job(job_id)),
            timeout=120,
            interval=0.01,
            what=f"the import to reach {stage}",
        )
        cancel = client.post(f"/api/v1/jobs/{job_id}/cancel")
        assert cancel.status_code in (200, 409), cancel.text  # 409: it finished meanwhile
        job = system.wait_job(job_id, timeout=180)
        count = asset_count(client, key) - (1 if stage == "rules" else 0)
        logs = client.get(f"/api/v1/jobs/{job_id}/logs").json()["items"]
    assert job["state"] in ("CANCELLED", "SUCCESS"), job
    if job["state"] == "CANCELLED":
        assert count == 0, f"CANCELLED at {stage} but {count} assets were written"
    else:
        assert count == ROWS, f"SUCCESS at {stage} but {count} assets"
        assert job["result"]["created_count"] == ROWS
    if stage in ("reading", "validating"):
        assert job["state"] == "CANCELLED"
    if stage == "rules":  # past the commit: the cancel is too late, and the log says so
        assert job["state"] == "SUCCESS"
        assert any("too late" in line["message"] for line in logs), logs
