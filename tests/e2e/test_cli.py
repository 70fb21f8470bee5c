"""The client commands against `synapse up`, run as a user runs them (real processes)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.e2e.conftest import UpInstance

MakeInstance = Callable[..., UpInstance]
TOKEN = "cli-e2e-admin-3b9f1c7d2e"


def synapse(
    up: UpInstance, *args: str, token: str | None = TOKEN
) -> subprocess.CompletedProcess[str]:
    env = up.env()
    env.update(SYNAPSE_API_URL=up.base_url, COLUMNS="160")
    if token is not None:
        env["SYNAPSE_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "synapse", *args],
        env=env,
        cwd=up.data_dir.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_import_follow_and_the_jobs_commands(make_instance: MakeInstance, tmp_path: Path) -> None:
    up = make_instance("cli", SYNAPSE_API_TOKENS=f"{TOKEN}:admin")
    up.start()

    made = synapse(up, "demo-data", "--rows", "3000", "--out", str(tmp_path / "plant.csv"))
    assert made.returncode == 0 and "3,000 assets" in made.stdout, made.stderr

    # Without the token the API says no, and the CLI says what to set.
    refused = synapse(up, "import", str(tmp_path / "plant.csv"), "-p", "plant", token=None)
    assert refused.returncode == 1 and "SYNAPSE_TOKEN" in refused.stderr

    done = synapse(up, "import", str(tmp_path / "plant.csv"), "--project", "plant", "--follow")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "queued (default)" in done.stdout
    assert "3,000/3,000 rows" in done.stdout and "100%" in done.stdout  # the bar's last state
    assert "SUCCESS" in done.stdout and "created 3,000, updated 0 of 3,000 rows" in done.stdout
    job_id = done.stdout.split()[1]

    listed = as_json(synapse(up, "jobs", "ls", "--state", "completed", "--json"))
    assert [j["id"] for j in listed["items"]] == [job_id]
    assert as_json(synapse(up, "jobs", "show", job_id, "--json"))["result"]["created_count"] == 3000
    shown = synapse(up, "jobs", "show", job_id)
    assert "SUCCESS" in shown.stdout and "import_csv_assets" in shown.stdout
    table = synapse(up, "jobs", "ls", "--type", "import_csv_assets")
    assert job_id in table.stdout and "1 of 1 jobs" in table.stdout
    logs = synapse(up, "jobs", "logs", job_id)
    assert logs.returncode == 0 and logs.stdout.strip()
    again = synapse(up, "jobs", "cancel", job_id)  # finished: the API's 409, said plainly
    assert again.returncode == 1 and "already SUCCESS" in again.stderr

    # A file with bad rows: the job fails, the CLI lists the rows and exits 1.
    bad = tmp_path / "bad.csv"
    bad.write_text("tag,type\nP-1,Pump\n,Motor\nP-3,\n")
    failed = synapse(up, "import", str(bad), "-p", "plant", "--mode", "insert", "--follow")
    assert failed.returncode == 1, failed.stdout
    assert "FAILURE" in failed.stdout and "row 3" in failed.stdout and "row 4" in failed.stdout
    failed_id = failed.stdout.split()[1]

    retried = synapse(up, "jobs", "retry", failed_id, "--follow")
    assert retried.returncode == 1 and f"as a retry of {failed_id}" in retried.stdout
    retry_id = retried.stdout.split()[1]
    assert as_json(synapse(up, "jobs", "show", retry_id, "--json"))["retry_of"] == failed_id
    followed = synapse(up, "jobs", "logs", retry_id, "--follow")
    assert followed.returncode == 1 and "ERROR" in followed.stdout

    assert synapse(up, "jobs", "show", "no-such-job").returncode == 1
