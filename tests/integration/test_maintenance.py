"""Scheduled maintenance on real processes: backups and restore, the schedule, the weekly report,
pruning, and two beats that must not send a slot twice.

Real worker, API and beat processes; real Redis, SQLite and PostgreSQL; real pg_dump and
pg_restore. Conditions are waited for with deadlines, never fixed sleeps.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import openpyxl
import pypdf
import pytest
import redis
from sqlalchemy import MetaData, func, inspect, select, table, text

from synapse.config import Settings
from synapse.db.engine import get_engine, session_scope
from synapse.db.migrate import upgrade
from synapse.db.models import AssetChange, Job, JobLog, JobRowError, PrunedJob, StoredFile
from synapse.jobs.states import FINISHED
from synapse.maintenance.backup import run_backup
from synapse.maintenance.backup_files import list_backups, manifest_path
from synapse.maintenance.common import Quiet
from tests.support.csvdata import assets_csv
from tests.support.services import postgres_admin_url, postgres_database
from tests.support.system import System, running_system
from tests.support.waiting import wait_for

ADMIN = "adm-maint-5e1f0c7a"
MEMBER = "mem-maint-9a7b2d4e"
TOKENS = f"{ADMIN}:admin,{MEMBER}:member:proj-m"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def maint(
    request: pytest.FixtureRequest, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[System]:
    base = tmp_path_factory.mktemp("maint")
    env = {"SYNAPSE_API_TOKENS": TOKENS, "SYNAPSE_BACKUP_KEEP": "3"}
    if request.param == "sqlite":
        url = f"sqlite:///{base / 'maint-sqlite' / 'synapse.db'}"
        with running_system(
            "maint-sqlite", database_url=url, redis_url=redis_url, base=base, **env
        ) as system:
            yield system
    else:
        with (
            postgres_database() as url,
            running_system(
                "maint-pg", database_url=url, redis_url=redis_url, base=base, **env
            ) as system,
        ):
            yield system


def client_as(system: System, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=system.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


def table_counts(settings: Settings) -> dict[str, int]:
    with get_engine(settings).connect() as conn:
        names = inspect(conn).get_table_names()
        return {
            name: int(conn.execute(select(func.count()).select_from(table(name))).scalar_one())
            for name in sorted(names)
        }


def wipe(settings: Settings) -> None:
    """Every table gone, as after losing the database."""
    engine = get_engine(settings)
    with engine.begin() as conn:
        if settings.is_sqlite:
            meta = MetaData()
            meta.reflect(conn)
            meta.drop_all(conn)
        else:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def synapse_cli(
    system: System, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "synapse", *args],
        env=system.env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def queue_backup(system: System) -> dict[str, Any]:
    with system.client() as client:
        response = client.post("/api/v1/admin/backups")
    assert response.status_code == 202, response.text
    return system.wait_job(response.json()["job_id"], timeout=90)


def run_entry(system: System, name: str) -> dict[str, Any]:
    with system.client() as client:
        response = client.post(f"/api/v1/schedules/{name}/run")
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "QUEUED" and body["job_id"] == body["task_id"]
    return system.wait_job(body["job_id"], timeout=90)


def schedules(system: System) -> dict[str, dict[str, Any]]:
    with system.client() as client:
        response = client.get("/api/v1/schedules")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == len(body["items"])
    return {item["name"]: item for item in body["items"]}


# -- backups ----------------------------------------------------------------------------------


def test_backup_wipe_restore_round_trip(maint: System) -> None:
    key = f"rt-{uuid.uuid4().hex[:6]}"
    assert maint.import_csv(assets_csv(300), project=key)["state"] == "SUCCESS"
    before = table_counts(maint.settings)

    job = queue_backup(maint)
    assert job["state"] == "SUCCESS", job
    assert job["project_id"] is None and job["percent"] == 100
    backup = job["result"]["backup"]
    assert backup["verified"] and re.fullmatch(
        r"synapse-\d{8}T\d{6}\.\d{3}Z\.(db|dump)", backup["name"]
    )
    path = maint.settings.backups_dir / backup["name"]
    manifest = json.loads(manifest_path(path).read_text())
    # The backup's own counts: the database as it was, plus the backup job's row (RUNNING then)
    # and its audit row (written with the job).
    assert manifest["tables"] == {
        **before,
        "jobs": before["jobs"] + 1,
        "audit_events": before["audit_events"] + 1,
    }

    wipe(maint.settings)
    assert "assets" not in table_counts(maint.settings)

    refused = synapse_cli(maint, "restore", backup["name"], stdin="n\n")
    assert refused.returncode == 1 and "Nothing was changed" in refused.stdout
    assert "assets" not in table_counts(maint.settings)

    restored = synapse_cli(maint, "restore", backup["name"], "--yes")
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert "Row counts match the backup's." in restored.stdout
    # The restore itself is audited, after the restored rows.
    assert table_counts(maint.settings) == {
        **manifest["tables"],
        "audit_events": manifest["tables"]["audit_events"] + 1,
    }
    with maint.client() as client:
        assets = client.get(f"/api/v1/projects/{key}/assets", params={"limit": 1}).json()
        assert assets["total"] == 300
        # The job that made the backup was running in its own snapshot: restore settles it.
        assert client.get(f"/api/v1/jobs/{job['id']}").json()["state"] == "SUCCESS"


def test_backups_are_listed_downloadable_and_admin_only(maint: System) -> None:
    job = queue_backup(maint)
    assert job["state"] == "SUCCESS", job
    with maint.client() as client:
        listing = client.get("/api/v1/admin/backups").json()
        assert listing["total"] >= 1 and listing["keep"] == 3
        newest = listing["items"][0]
        assert newest["name"] == job["result"]["backup"]["name"]
        assert newest["verified"] is True and newest["size"] > 0
        assert datetime.fromisoformat(newest["created_at"]).tzinfo is not None
        download = client.get(f"/api/v1/files/{newest['file_id']}")
        assert download.status_code == 200 and len(download.content) == newest["size"]
    with client_as(maint, MEMBER) as member_client:
        assert member_client.get("/api/v1/admin/backups").status_code == 403
        assert member_client.post("/api/v1/admin/backups").status_code == 403
        assert member_client.get(f"/api/v1/files/{newest['file_id']}").status_code == 404
        assert member_client.get("/api/v1/reports").status_code == 403
        assert member_client.post("/api/v1/schedules/daily-backup/run").status_code == 403
        assert member_client.get("/api/v1/schedules").status_code == 200


def test_retention_keeps_exactly_n(tmp_path: Path) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, data_dir=tmp_path / "data", backup_dir=tmp_path / "elsewhere", backup_keep=3
    )
    upgrade(settings)
    made = [run_backup(settings, Quiet())["backup"]["name"] for _ in range(5)]
    kept = list_backups(settings)
    assert [b.name for b in kept] == made[:1:-1]  # the newest three, newest first
    assert sorted(p.name for p in (tmp_path / "elsewhere").iterdir()) == sorted(
        [*made[2:], *(f"{name}.json" for name in made[2:])]
    )
    with session_scope(settings) as session:
        rows = session.scalars(select(StoredFile.name).where(StoredFile.kind == "backup")).all()
    assert sorted(rows) == sorted(made[2:])


# -- the schedule -----------------------------------------------------------------------------


def test_schedule_lists_entries_runs_them_and_notices_a_missed_run(maint: System) -> None:
    entries = schedules(maint)
    assert set(entries) == {
        "daily-backup",
        "weekly-report",
        "prune-job-history",
        "sweep-abandoned-jobs",
    }
    backup = entries["daily-backup"]
    assert backup["task"] == "backup_database" and backup["schedule"] == "0 2 * * *"
    assert entries["weekly-report"]["schedule"] == "0 8 * * 1"
    assert entries["sweep-abandoned-jobs"]["kind"] == "task"
    for item in entries.values():
        next_run = datetime.fromisoformat(item["next_run_at"])
        assert next_run.utcoffset() in (timedelta(hours=-5), timedelta(hours=-4))  # New York
        assert next_run > datetime.now(UTC)
    assert datetime.fromisoformat(backup["next_run_at"]).strftime("%H:%M") == "02:00"

    # Beat has "watched" for 8 days (no beat runs here): last Monday's report was missed.
    since_key = f"{maint.settings.redis_prefix}:beat:since"
    eight_days = (datetime.now(UTC) - timedelta(days=8)).isoformat()
    redis.Redis.from_url(maint.settings.effective_redis_url).set(since_key, eight_days)
    report = schedules(maint)["weekly-report"]
    assert report["missed"] is True and report["missed_at"]

    job = run_entry(maint, "weekly-report")
    assert job["state"] == "SUCCESS", job
    report = schedules(maint)["weekly-report"]
    assert report["missed"] is False
    assert report["last_run"]["job_id"] == job["id"] and report["last_run"]["state"] == "SUCCESS"

    with maint.client() as client:
        assert client.post("/api/v1/schedules/no-such-entry/run").status_code == 404
        page = client.get("/").text
    assert "daily-backup" in page and "Scheduled for" in page and "Run now" in page


def test_weekly_report_pdf_has_the_weeks_job_counts(maint: System) -> None:
    key = f"wk-{uuid.uuid4().hex[:6]}"
    assert maint.import_csv(assets_csv(20), project=key)["state"] == "SUCCESS"
    bad = maint.upload(b"tag,type\n,Motor\n", project=key)
    if bad.status_code == 202:
        maint.wait_job(bad.json()["job_id"])
    with maint.client() as client:
        jobs = client.get("/api/v1/jobs", params={"since": "7d", "limit": 1000}).json()["items"]
    expected: dict[str, Counter[str]] = {}
    for item in jobs:
        expected.setdefault(item["type"], Counter())[item["state"]] += 1

    job = run_entry(maint, "weekly-report")
    assert job["state"] == "SUCCESS", job
    expected.setdefault("generate_weekly_report", Counter())["RUNNING"] += 1  # itself, then
    pdf_file, xlsx_file = job["result"]["files"]
    assert pdf_file["name"].endswith(".pdf") and xlsx_file["name"].endswith(".xlsx")

    with maint.client() as client:
        reports = client.get("/api/v1/reports").json()
        assert reports["items"][0]["job_id"] == job["id"]
        assert [f["id"] for f in reports["items"][0]["files"]] == [pdf_file["id"], xlsx_file["id"]]
        pdf = client.get(reports["items"][0]["files"][0]["url"]).content
        xlsx = client.get(f"/api/v1/files/{xlsx_file['id']}").content
        page = client.get("/").text
    assert pdf_file["id"] in page  # the queue page links the latest reports

    reader = pypdf.PdfReader(io.BytesIO(pdf))
    text_ = " ".join(" ".join(p.extract_text() for p in reader.pages).split())
    assert "SYNAPSE weekly report" in text_ and "Jobs by type and state" in text_
    for job_type, counts in expected.items():
        row = (
            f"{job_type} {sum(counts.values())} {counts['SUCCESS']} {counts['FAILURE']} "
            f"{counts['CANCELLED']}"
        )
        assert row in text_, (row, text_[:3000])
    book = openpyxl.load_workbook(io.BytesIO(xlsx))
    rows = {r[0]: r for r in book["Jobs by type and state"].iter_rows(min_row=2, values_only=True)}
    for job_type, counts in expected.items():
        assert rows[job_type][1:4] == (sum(counts.values()), counts["SUCCESS"], counts["FAILURE"])


# -- pruning ----------------------------------------------------------------------------------


def _old_job(session: Any, *, state: str, age_days: float, **values: Any) -> str:
    job_id = str(uuid.uuid4())
    when = datetime.now(UTC) - timedelta(days=age_days)
    finished = when if state in ("SUCCESS", "FAILURE", "CANCELLED") else None
    values.setdefault("type", "import_csv_assets")
    session.add(Job(id=job_id, state=state, params=values.pop("params", {}), queue="default",
                    percent=0, current=0, total=0, message="", attempts=1, created_at=when,
                    started_at=when, finished_at=finished, **values))  # fmt: skip
    session.flush()
    return job_id


def test_pruning_deletes_old_jobs_with_their_logs_uploads_and_files(maint: System) -> None:
    settings = maint.settings
    uploads = settings.uploads_dir
    uploads.mkdir(parents=True, exist_ok=True)
    export_dir = settings.data_dir / "files" / "export"
    export_dir.mkdir(parents=True, exist_ok=True)
    shared_upload = uploads / f"{uuid.uuid4()}.csv"
    shared_upload.write_text("tag,type\n")
    with session_scope(settings) as s:
        a = _old_job(s, state="SUCCESS", age_days=40)
        a_upload = uploads / f"{a}.csv"
        a_upload.write_text("tag,type\nA,Motor\n")
        s.get(Job, a).params = {"file_path": str(a_upload)}  # type: ignore[union-attr]
        b = _old_job(s, state="FAILURE", age_days=35, params={"file_path": str(shared_upload)})
        retry = _old_job(s, state="SUCCESS", age_days=1, retry_of=b,
                         params={"file_path": str(shared_upload)})  # fmt: skip
        running = _old_job(s, state="RUNNING", age_days=40)
        recent = _old_job(s, state="SUCCESS", age_days=2)
        s.add(JobLog(job_id=a, at=datetime.now(UTC), level="INFO", message="x"))
        s.add(JobLog(job_id=a, at=datetime.now(UTC), level="INFO", message="y"))
        s.add(JobRowError(job_id=b, row=2, column="tag", value="", reason="missing"))
        s.add(AssetChange(job_id=a, project_id=1, tag="A", row=2, action="created",
                          changes={"type": "Motor", "properties": {}}, applied=True,
                          at=datetime.now(UTC)))  # fmt: skip
        export = export_dir / f"{uuid.uuid4()}.csv"
        export.write_text("x")
        s.add(StoredFile(id=str(uuid.uuid4()), job_id=a, kind="export", name="e.csv",
                         path=str(export.relative_to(settings.data_dir)), size=1,
                         media_type="text/csv", created_at=datetime.now(UTC)))  # fmt: skip
        kept_backup = str(uuid.uuid4())
        s.add(StoredFile(id=kept_backup, job_id=b, kind="backup", name="b.db", path="backups/b.db",
                         size=1, media_type="application/octet-stream",
                         created_at=datetime.now(UTC)))  # fmt: skip
    orphan = uploads / f"{uuid.uuid4()}.csv"
    orphan.write_text("tag,type\n")
    old = time.time() - 40 * 86400
    os.utime(orphan, (old, old))

    job = run_entry(maint, "prune-job-history")
    assert job["state"] == "SUCCESS", job
    result = job["result"]
    assert result["retention_days"] == 30
    assert result["jobs"] >= 2 and result["files"] >= 1 and result["uploads"] >= 2
    with session_scope(settings) as s:
        assert s.get(Job, a) is None and s.get(Job, b) is None
        assert all(s.get(Job, j) is not None for j in (retry, running, recent))
        assert s.scalar(select(func.count()).select_from(JobLog).where(JobLog.job_id == a)) == 0
        assert (
            s.scalar(select(func.count()).select_from(JobRowError).where(JobRowError.job_id == b))
            == 0
        )
        backup_row = s.get(StoredFile, kept_backup)
        assert backup_row is not None and backup_row.job_id is None
        ledger = select(func.count()).select_from(AssetChange).where(AssetChange.job_id == a)
        assert s.scalar(ledger) == 0  # the import's ledger went with it
        assert s.get(PrunedJob, a) is not None
    assert not a_upload.exists() and not export.exists() and not orphan.exists()
    assert shared_upload.exists()  # a kept retry still reads it
    with maint.client() as client:
        undo = client.post(f"/api/v1/jobs/{a}/undo")
    assert undo.status_code == 409 and "pruned" in undo.json()["detail"], undo.text


# -- failures ---------------------------------------------------------------------------------


@pytest.mark.postgres
def test_bad_backup_credentials_fail_the_job_with_pg_dumps_message(
    redis_url: str, tmp_path: Path
) -> None:
    """pg_dump gets a user that does not exist (the server trusts local users, so a wrong
    password alone would pass); the password given with it must appear nowhere."""
    secret = f"pw-{uuid.uuid4().hex}"
    with postgres_database() as url:
        where = urlsplit(postgres_admin_url() or "")
        database = url.rsplit("/", 1)[1]
        server = f"{where.hostname}:{where.port or 5432}"
        bad = f"postgresql://synapse_no_such_role:{secret}@{server}/{database}"
        with running_system(
            "pg-bad-backup", database_url=url, redis_url=redis_url, base=tmp_path,
            SYNAPSE_BACKUP_DATABASE_URL=bad,
        ) as system:  # fmt: skip
            job = queue_backup(system)
            assert job["state"] == "FAILURE", job
            assert job["error"].startswith("pg_dump failed (exit 1): pg_dump: error:"), job["error"]
            assert 'role "synapse_no_such_role" does not exist' in job["error"]
            entry = schedules(system)["daily-backup"]
            assert (
                entry["last_run"]["state"] == "FAILURE" and "pg_dump" in entry["last_run"]["error"]
            )
            with system.client() as client:
                logs = client.get(f"/api/v1/jobs/{job['id']}/logs").text
                page = client.get("/").text
            assert "Last backup failed" in page
            leaks = [
                json.dumps(job),
                logs,
                page,
                system.tail("worker", 400),
                system.tail("api", 400),
            ]
            assert not [x for x in leaks if secret in x]
            assert not any(system.settings.backups_dir.glob("*"))  # nothing half-made is left


# -- two beats --------------------------------------------------------------------------------


def scheduled_jobs(settings: Settings, task: str = "prune_job_history") -> list[Job]:
    with session_scope(settings) as session:
        query = select(Job).where(Job.type == task).order_by(Job.created_at)
        return list(session.scalars(query))


def prune_jobs(settings: Settings) -> list[Job]:
    return scheduled_jobs(settings)


def test_two_beats_send_each_slot_once(redis_url: str, tmp_path: Path) -> None:
    """Two beats: a minute-level cron entry (the backup, `* * * * *`) and a 2-second one (the
    pruning) are each sent once per slot, also while the leader dies and the other takes over."""
    url = f"sqlite:///{tmp_path / 'beats' / 'synapse.db'}"
    env = {
        "SYNAPSE_SCHEDULE_PRUNE": "every 2s",
        "SYNAPSE_SCHEDULE_BACKUP": "* * * * *",
        "SYNAPSE_SCHEDULE_REPORT": "off",
        "SYNAPSE_BEAT_LOCK_TTL": "3",
    }
    with running_system(
        "beats", database_url=url, redis_url=redis_url, base=tmp_path, start=False, **env
    ) as system:
        system.start_worker()
        beats = {name: system.spawn(name, "beat") for name in ("beat-a", "beat-b")}
        leader_key = f"{system.settings.redis_prefix}:beat:leader"
        client = redis.Redis.from_url(system.settings.effective_redis_url)
        holder = wait_for(lambda: client.get(leader_key), timeout=30, what="a leader").decode()
        # Both beats alive through a minute boundary: the cron entry runs once for it.
        wait_for(
            lambda: scheduled_jobs(system.settings, "backup_database"),
            timeout=75,
            what="the backup of the next whole minute",
        )
        wait_for(lambda: len(prune_jobs(system.settings)) >= 3, timeout=30, what="3 runs")

        # The leader dies without a word (no release); the other takes over within a lock period.
        leader = next(n for n, p in beats.items() if f" pid {p.pid} " in holder)
        survivor = next(n for n in beats if n != leader)
        os.killpg(beats[leader].pid, signal.SIGKILL)
        beats[leader].wait()
        killed_at = datetime.now(UTC)
        before = len(prune_jobs(system.settings))
        wait_for(lambda: len(prune_jobs(system.settings)) >= before + 3, timeout=30, what="3 more")
        assert f" pid {beats[survivor].pid} " in client.get(leader_key).decode()
        # With the beats stopped the lists stop growing: every run they sent then succeeds.
        os.killpg(beats[survivor].pid, signal.SIGTERM)
        beats[survivor].wait(timeout=30)

        def all_finished() -> list[Job] | None:
            jobs = prune_jobs(system.settings) + scheduled_jobs(system.settings, "backup_database")
            return jobs if all(j.state in FINISHED for j in jobs) else None

        finished = wait_for(all_finished, timeout=60, what="every run to finish")
        assert [(j.id, j.type, j.state, j.error) for j in finished if j.state != "SUCCESS"] == []
        assert {job.submitted_by for job in finished} == {"beat"}

        for task, step in (("prune_job_history", 2), ("backup_database", 60)):
            jobs = scheduled_jobs(system.settings, task)
            slots = Counter(job.params["scheduled_for"] for job in jobs)
            assert max(slots.values()) == 1, (task, [s for s, n in slots.items() if n > 1])
            times = sorted(datetime.fromisoformat(s) for s in slots)
            assert all(t.timestamp() % step == 0 for t in times), (task, times)
            assert all(b - a >= timedelta(seconds=step) for a, b in itertools.pairwise(times))
        prune_times = [
            datetime.fromisoformat(j.params["scheduled_for"]) for j in prune_jobs(system.settings)
        ]
        assert any(t > killed_at for t in prune_times)
        log = system.tail(survivor, 400)
        assert "standing by" in log and log.rindex("is the leader") > log.index("standing by")
