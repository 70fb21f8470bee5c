"""The operator's console, on real processes: throughput, durations and queue latency counted
from the job table (jobs run here by a real worker, plus seeded rows for percentiles), and the
audit trail of operator actions with their actors (two admin tokens and a member), its filters,
its access rule and its own retention. SQLite and PostgreSQL; waits are deadlines, not sleeps."""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from synapse.auth import fingerprint
from synapse.db.engine import session_scope
from synapse.db.models import AuditEvent, Job
from synapse.jobs.service import submit_job
from tests.support.csvdata import assets_csv
from tests.support.services import postgres_database
from tests.support.system import System, running_system
from tests.support.waiting import wait_for

ADMIN_1 = "adm1-console-4c8e2a"
ADMIN_2 = "adm2-console-9b1f7d"
MEMBER = "mem-console-2e6a0c"
PROJECT = "proj-console"
TOKENS = f"{ADMIN_1}:admin,{ADMIN_2}:admin,{MEMBER}:member:{PROJECT}"
A1, A2 = fingerprint(ADMIN_1, "admin"), fingerprint(ADMIN_2, "admin")
M = fingerprint(MEMBER, "member")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def console(
    request: pytest.FixtureRequest, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[System]:
    base = tmp_path_factory.mktemp("console")
    if request.param == "sqlite":
        url = f"sqlite:///{base / 'console-sqlite' / 'synapse.db'}"
        with running_system(
            "console-sqlite", database_url=url, redis_url=redis_url, base=base,
            SYNAPSE_API_TOKENS=TOKENS,
        ) as system:  # fmt: skip
            yield system
    else:
        with (
            postgres_database() as url,
            running_system(
                "console-pg", database_url=url, redis_url=redis_url, base=base,
                SYNAPSE_API_TOKENS=TOKENS,
            ) as system,
        ):  # fmt: skip
            yield system


def as_(system: System, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=system.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


def wait_job(system: System, job_id: str, timeout: float = 60) -> dict[str, Any]:
    return system.wait_job(job_id, timeout=timeout)


def percentile_cont(values: list[float], p: float) -> float:
    ordered = sorted(values)
    position = p * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def rows_of(system: System, ids: list[str]) -> list[Job]:
    with session_scope(system.settings) as session:
        return list(session.scalars(select(Job).where(Job.id.in_(ids))))


def seed_jobs(system: System, job_type: str, durations: list[float], *, age: timedelta) -> None:
    """Finished jobs of one type, each finished `age` ago after running `durations[i]` s."""
    now = datetime.now(UTC)
    with session_scope(system.settings) as session:
        for i, seconds in enumerate(durations):
            finished = now - age - timedelta(seconds=i)
            started = finished - timedelta(seconds=seconds)
            session.add(
                Job(id=str(uuid.uuid4()), type=job_type, project_key="proj-seeded", params={},
                    queue="bulk", state="SUCCESS", percent=100, current=1, total=1, message="",
                    attempts=1, created_at=started - timedelta(seconds=2), started_at=started,
                    finished_at=finished)
            )  # fmt: skip


# -- stats --------------------------------------------------------------------------------


def test_throughput_and_durations_agree_with_the_jobs_made_here(console: System) -> None:
    def submit(task: str, **params: Any) -> str:
        job = submit_job(settings=console.settings, celery=console.celery(), task_name=task,
                         params=params, project_key=PROJECT, submitted_by=M)  # fmt: skip
        return job.id

    succeeded = [submit("test.sleeper", seconds=s) for s in (0.05, 0.1, 0.2)]
    failed = [submit("test.bad_input") for _ in range(2)]
    long_one = submit("test.sleeper", seconds=30)
    upload = console.upload(assets_csv(20), project=PROJECT)
    assert upload.status_code == 202, upload.text
    succeeded.append(upload.json()["job_id"])
    wait_for(lambda: console.job(long_one)["state"] == "RUNNING", timeout=30, what="running")
    with as_(console, ADMIN_1) as admin:
        assert admin.post(f"/api/v1/jobs/{long_one}/cancel").status_code in (200, 202)
    made = [*succeeded, *failed, long_one]
    states = {job_id: wait_job(console, job_id)["state"] for job_id in made}
    assert Counter(states.values()) == {"SUCCESS": 4, "FAILURE": 2, "CANCELLED": 1}, states
    rows = rows_of(console, made)

    with as_(console, MEMBER) as member:  # the member sees its project: exactly these jobs
        before = datetime.now(UTC)
        body = member.get("/api/v1/stats/throughput", params={"window": "1h", "bucket": "1m"})
        after = datetime.now(UTC)
        assert body.status_code == 200, body.text
        tp = body.json()
        assert len(tp["buckets"]) == 60 and tp["bucket_seconds"] == 60
        starts = [datetime.fromisoformat(b["start"]) for b in tp["buckets"]]
        assert all(b - a == timedelta(minutes=1) for a, b in itertools.pairwise(starts))
        assert starts[-1] <= after and before < starts[-1] + timedelta(minutes=1)  # holds now
        word = {"SUCCESS": "succeeded", "FAILURE": "failed", "CANCELLED": "cancelled"}
        expected: Counter[tuple[datetime, str]] = Counter()
        for job in rows:
            assert job.finished_at is not None
            minute = int(job.finished_at.timestamp()) // 60 * 60
            expected[(datetime.fromtimestamp(minute, UTC), word[job.state])] += 1
        got = Counter(
            {(start, k): b[k] for start, b in zip(starts, tp["buckets"], strict=True)
             for k in word.values() if b[k]}
        )  # fmt: skip
        assert got == expected
        assert tp["totals"] == {"succeeded": 4, "failed": 2, "cancelled": 1}
        assert sum(1 for b in tp["buckets"] if not any(b[k] for k in word.values())) >= 55

        durations = member.get("/api/v1/stats/durations", params={"window": "1h"}).json()
        by_type = {item["type"]: item for item in durations["items"]}
        assert set(by_type) == {"test.sleeper", "test.bad_input", "import_csv_assets"}
        for job_type, item in by_type.items():
            runs = [
                (j.finished_at - j.started_at).total_seconds()
                for j in rows
                if j.type == job_type and j.started_at and j.finished_at
            ]
            assert item["count"] == len(runs)
            for name, p in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
                assert item[name] == pytest.approx(percentile_cont(runs, p), abs=0.01), (item, p)
        assert by_type["test.bad_input"]["failed"] == 2
        queues = {q["queue"]: q for q in durations["queues"]}
        waits = [(j.started_at - j.created_at).total_seconds() for j in rows if j.started_at]
        assert queues["default"]["count"] == len(waits)
        assert queues["default"]["p95"] == pytest.approx(percentile_cont(waits, 0.95), abs=0.01)
        latency = member.get("/api/v1/stats/latency", params={"window": "1h"}).json()
        assert latency["items"] == durations["queues"]

        for params, word_ in (
            ({"window": "2h"}, "window"),
            ({"window": "7d", "bucket": "1m"}, "buckets"),
            ({"window": "24h", "bucket": "xx"}, "bucket"),
            ({"window": "1h", "bucket": "1s"}, "at least"),
        ):
            bad = member.get("/api/v1/stats/throughput", params=params)
            assert bad.status_code == 422 and word_ in bad.json()["detail"], (params, bad.text)


def test_percentiles_of_seeded_jobs_by_window_and_scope(console: System) -> None:
    job_type = f"test.seeded-{uuid.uuid4().hex[:6]}"
    recent = [float(s) for s in range(1, 41)]  # 1 … 40 s, finished within the hour
    seed_jobs(console, job_type, recent, age=timedelta(minutes=5))
    seed_jobs(console, job_type, [500.0] * 10, age=timedelta(days=2))  # in 7d, not in 24h
    seed_jobs(console, job_type, [900.0] * 5, age=timedelta(days=9))  # in no window
    with as_(console, ADMIN_2) as admin:
        day = {
            i["type"]: i for i in admin.get("/api/v1/stats/durations?window=24h").json()["items"]
        }
        week = {
            i["type"]: i for i in admin.get("/api/v1/stats/durations?window=7d").json()["items"]
        }
        tp = admin.get("/api/v1/stats/throughput", params={"window": "7d", "bucket": "1h"}).json()
    assert day[job_type] == {"type": job_type, "count": 40, "failed": 0, "p50": 20.5,
                             "p95": pytest.approx(38.05), "p99": pytest.approx(39.61)}  # fmt: skip
    week_values = recent + [500.0] * 10
    assert week[job_type]["count"] == 50
    assert week[job_type]["p50"] == pytest.approx(percentile_cont(week_values, 0.5))
    assert week[job_type]["p95"] == pytest.approx(percentile_cont(week_values, 0.95))
    assert len(tp["buckets"]) == 168 and tp["totals"]["succeeded"] >= 50
    with as_(console, MEMBER) as member:  # another project's jobs are not the member's
        mine = member.get("/api/v1/stats/durations?window=7d").json()["items"]
        assert job_type not in {i["type"] for i in mine}


# -- audit --------------------------------------------------------------------------------


def audit_items(system: System, **params: Any) -> dict[str, Any]:
    with as_(system, ADMIN_1) as admin:
        response = admin.get("/api/v1/audit", params={"limit": 1000, **params})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def wait_audit(system: System, action: str, target: str) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        for item in audit_items(system, action=action)["items"]:
            if item["target"] == target:
                found_item: dict[str, Any] = item
                return found_item
        return None

    return wait_for(found, timeout=15, what=f"audit {action} {target}")


def test_every_wired_action_is_audited_with_its_actor(console: System) -> None:
    # token login (the page's form), by the first admin
    login = httpx.post(f"{console.base_url}/login", data={"token": ADMIN_1, "next": "/"})
    assert login.status_code == 303
    assert wait_audit(console, "token.login", A1)["detail"]["role"] == "admin"

    # rule changes: created by the member, changed by the second admin, deleted by the first
    rule = {"name": f"r-{uuid.uuid4().hex[:6]}", "applies_to": [], "condition": "has('x')",
            "action": {"type": "flag", "severity": "info", "message": "{tag}"}}  # fmt: skip
    with as_(console, MEMBER) as member:
        created = member.post(f"/api/v1/projects/{PROJECT}/rules", json=rule)
        assert created.status_code == 201, created.text
    rule_target = f"project {PROJECT} rule {created.json()['id']}"
    with as_(console, ADMIN_2) as admin2:
        assert admin2.put(f"/api/v1/projects/{PROJECT}/rules/{created.json()['id']}",
                          json={"enabled": False}).status_code == 200  # fmt: skip
    with as_(console, ADMIN_1) as admin1:
        gone = admin1.delete(f"/api/v1/projects/{PROJECT}/rules/{created.json()['id']}")
        assert gone.status_code == 204

    # a preview committed by the member who made it, the commit undone by the second admin
    with as_(console, MEMBER) as member:
        sent = member.post(
            "/api/v1/ingestion/upload-csv",
            files={"file": ("a.csv", assets_csv(10), "text/csv")},
            data={"project_id": PROJECT, "mode": "preview"},
        )
        assert sent.status_code == 202, sent.text
        preview = sent.json()["job_id"]
        assert wait_job(console, preview)["state"] == "SUCCESS"
        commit = member.post(f"/api/v1/jobs/{preview}/commit")
        assert commit.status_code == 202, commit.text
    commit_id = commit.json()["job_id"]
    assert wait_job(console, commit_id)["state"] == "SUCCESS"
    with as_(console, ADMIN_2) as admin2:
        undo = admin2.post(f"/api/v1/jobs/{commit_id}/undo")
        assert undo.status_code == 202, undo.text
        run = admin2.post("/api/v1/schedules/weekly-report/run")
        assert run.status_code == 202, run.text
    wait_job(console, undo.json()["job_id"])
    wait_job(console, run.json()["job_id"], timeout=90)

    expected = [
        ("rule.create", rule_target, M),
        ("rule.update", rule_target, A2),
        ("rule.delete", rule_target, A1),
        ("import.commit", preview, M),
        ("import.undo", commit_id, A2),
        ("schedule.run", "weekly-report", A2),
    ]
    for action, target, actor in expected:
        item = wait_audit(console, action, target)
        assert item["actor"] == actor, item
        assert item["client"] == "127.0.0.1", item
        assert datetime.fromisoformat(item["at"]).tzinfo is not None
    assert wait_audit(console, "rule.update", rule_target)["detail"]["fields"] == ["enabled"]
    assert wait_audit(console, "import.commit", preview)["detail"]["job_id"] == commit_id
    assert (
        wait_audit(console, "schedule.run", "weekly-report")["detail"]["job_id"]
        == run.json()["job_id"]
    )

    everything = audit_items(console)
    text = json.dumps(everything)
    assert all(secret not in text for secret in (ADMIN_1, ADMIN_2, MEMBER))  # never a token
    ats = [item["at"] for item in everything["items"]]
    assert ats == sorted(ats, reverse=True) and everything["total"] == len(ats)
    # filters and paging
    mine = audit_items(console, actor=A2)["items"]
    assert mine and {i["actor"] for i in mine} == {A2}
    assert {i["action"] for i in audit_items(console, action="rule.delete")["items"]} == {
        "rule.delete"
    }
    page = audit_items(console, limit=2, offset=1)
    assert page["total"] == everything["total"] and page["items"] == everything["items"][1:3]
    assert audit_items(console, since="1h")["total"] == everything["total"]
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert audit_items(console, since=future)["total"] == 0
    with as_(console, ADMIN_1) as admin1:
        assert admin1.get("/api/v1/audit", params={"action": "nope"}).status_code == 422
    with as_(console, MEMBER) as member:
        assert member.get("/api/v1/audit").status_code == 403
        assert member.get("/audit").status_code == 403  # the page too


def test_audit_keeps_its_own_longer_retention(console: System) -> None:
    now = datetime.now(UTC)
    marks = {age: f"retention-{age}-{uuid.uuid4().hex[:6]}" for age in (400, 366, 300, 40)}
    with session_scope(console.settings) as session:
        for age, target in marks.items():
            session.add(AuditEvent(at=now - timedelta(days=age), actor="seed", action="rule.create",
                                   target=target, detail={}, client=None))  # fmt: skip
    with as_(console, ADMIN_2) as admin2:
        run = admin2.post("/api/v1/schedules/prune-job-history/run")
    assert run.status_code == 202, run.text
    job = wait_job(console, run.json()["job_id"])
    assert job["state"] == "SUCCESS", job
    assert job["result"]["audit_events"] >= 2 and job["result"]["audit_retention_days"] == 365
    with session_scope(console.settings) as session:
        left = set(session.scalars(select(AuditEvent.target).where(AuditEvent.actor == "seed")))
    assert marks[400] not in left and marks[366] not in left
    assert marks[300] in left and marks[40] in left  # older than the jobs' 30 days, still kept


def test_backup_and_restore_are_audited(console: System) -> None:
    """Last in the module: the restore brings the database back to the backup."""
    with as_(console, ADMIN_2) as admin2:
        response = admin2.post("/api/v1/admin/backups")
    assert response.status_code == 202, response.text
    job = wait_job(console, response.json()["job_id"], timeout=90)
    assert job["state"] == "SUCCESS", job
    made = wait_audit(console, "backup.create", f"backup job {job['id']}")
    assert made["actor"] == A2 and made["detail"] == {"job_id": job["id"]}
    name = job["result"]["backup"]["name"]
    restored = subprocess.run(
        [sys.executable, "-m", "synapse", "restore", name, "--yes"],
        env=console.env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert "Row counts match the backup's." in restored.stdout
    item = wait_audit(console, "backup.restore", name)
    assert item["actor"] == "cli" and item["client"] is None
    assert item["detail"]["file"] == name and item["detail"]["differences"] == []
    # the backup holds its own creation: the audit row was written with the job's row
    assert wait_audit(console, "backup.create", f"backup job {job['id']}")["actor"] == A2
