"""Queues and workers (docs/queues-and-workers.md), on real workers, Redis, SQLite and PostgreSQL.

One test runs the acceptance on both databases side by side, so that the 30 s in which a paused
queue must start nothing is spent once, and the other checks happen inside that window: `bulk`
paused, 5 bulk imports, the worker and Redis (append-only file, as `synapse up` runs it)
restarted and a new worker joining, `urgent` and `default` still running, the worker list with
two workers and their jobs, one of them SIGKILLed, the start gate of a worker that missed a
pause, admin-only and audited pause and resume; then resume, and every held job succeeds.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import yaml
from sqlalchemy import select

from synapse.db.engine import session_scope
from synapse.db.models import AuditEvent, Job
from synapse.embedded import redis_server_binary
from synapse.jobs import queues
from synapse.jobs.broker import waiting_ids
from synapse.jobs.lost import lost_queued
from tests.support.csvdata import assets_csv
from tests.support.services import postgres_database
from tests.support.system import ROOT, System, free_port, running_system, stop_process
from tests.support.waiting import wait_for

ADMIN = "adm-queues-7c1e52a9"
MEMBER = "mem-queues-4b9d03f6"
TOKENS = f"{ADMIN}:admin,{MEMBER}:member:qa"
HOLD_FOR = 30.0  # the acceptance: none starts in 30 s


def start_redis(folder: Path, port: int) -> subprocess.Popen[bytes]:
    """A redis-server with its append-only file on, as `synapse up` runs it."""
    proc = subprocess.Popen(
        [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
         "--appendonly", "yes", "--appendfsync", "everysec", "--save", ""],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    client = redis.Redis(port=port)
    wait_for(client.ping, timeout=15, what="redis-server")
    client.close()
    return proc


@dataclass
class Box:
    """One system with a Redis of its own (so the test may restart it)."""

    system: System
    folder: Path
    port: int
    redis: subprocess.Popen[bytes]
    uploads: int = 0

    def api(self, token: str = ADMIN) -> httpx.Client:
        return httpx.Client(
            base_url=self.system.base_url,
            timeout=30,
            headers={"Authorization": f"Bearer {token}"},
        )

    def restart_redis(self) -> None:
        self.redis.terminate()  # redis-server writes its append-only file and exits
        self.redis.wait(timeout=15)
        self.redis = start_redis(self.folder, self.port)

    def restart_worker(self) -> None:
        stop_process(self.system.processes["worker"])
        self.system.start_worker()

    def upload(self, rows: int, project: str, priority: str) -> str:
        self.uploads += 1
        content = assets_csv(rows, prefix=f"{priority}{self.uploads}")
        with self.api() as client:
            response = client.post(
                "/api/v1/ingestion/upload-csv",
                files={"file": ("assets.csv", content, "text/csv")},
                data={"project_id": project, "priority": priority},
            )
        assert response.status_code == 202, response.text
        return str(response.json()["job_id"])

    def job(self, job_id: str) -> dict[str, Any]:
        with self.api() as client:
            body: dict[str, Any] = client.get(f"/api/v1/jobs/{job_id}").json()
        return body

    def queue(self, name: str) -> dict[str, Any]:
        with self.api(MEMBER) as client:  # any valid token may look
            response = client.get("/api/v1/queues")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["total"] == 3 and [q["name"] for q in body["items"]] == [
            "urgent",
            "default",
            "bulk",
        ]
        found: dict[str, Any] = next(q for q in body["items"] if q["name"] == name)
        return found

    def workers(self) -> list[dict[str, Any]]:
        with self.api() as client:
            items: list[dict[str, Any]] = client.get("/api/v1/workers").json()["items"]
        return items


@contextmanager
def box(name: str, base: Path, database_url: str | None) -> Iterator[Box]:
    folder = base / f"{name}-redis"
    folder.mkdir(parents=True)
    port = free_port()
    made: Box | None = None
    server = start_redis(folder, port)
    try:
        url = database_url or f"sqlite:///{base / name / 'synapse.db'}"
        with running_system(
            name,
            database_url=url,
            redis_url=f"redis://127.0.0.1:{port}/0",
            base=base,
            start=False,
            SYNAPSE_API_TOKENS=TOKENS,
        ) as system:
            made = Box(system, folder, port, server)
            system.start_worker()
            system.spawn("api", "api")
            yield made  # the caller waits until it is ready
    finally:
        for proc in {server, made.redis if made else server}:  # the restarted one too
            proc.kill()
            proc.wait()


def actor_of(system: System, secret: str) -> str:
    return next(e.principal.id for e in system.settings.tokens if e.secret == secret)


def pause_is_admin_only(b: Box) -> None:
    with b.api(MEMBER) as member:
        refused = member.post("/api/v1/queues/bulk/pause")
        assert refused.status_code == 403, refused.text
    with b.api() as admin:
        first = admin.post("/api/v1/queues/bulk/pause")
        assert first.status_code == 200, first.text
        assert first.json()["paused"] is True and first.json()["changed"] is True
        again = admin.post("/api/v1/queues/bulk/pause")  # idempotent
        assert again.status_code == 200 and again.json()["changed"] is False
        unknown = admin.post("/api/v1/queues/nope/pause")
        assert unknown.status_code == 404 and "nope" in unknown.json()["detail"]
    bulk = b.queue("bulk")
    assert bulk["paused"] is True and bulk["paused_by"] == actor_of(b.system, ADMIN)


def none_started(b: Box, ids: list[str]) -> bool:
    with session_scope(b.system.settings) as session:
        rows = session.execute(
            select(Job.state, Job.attempts, Job.started_at).where(Job.id.in_(ids))
        ).all()
    assert len(rows) == len(ids)
    started = [row for row in rows if row != ("QUEUED", 0, None)]
    assert not started, f"jobs of the paused queue started: {started}"
    return True


def two_workers_then_one(b: Box) -> None:
    """`GET /api/v1/workers` lists both workers with their running jobs and memory; the one
    SIGKILLed is gone from the list (within 60 s; its record lives 8 s here)."""
    sleepers = [b.system.submit("test.sleeper", queue="default", seconds=6)]
    sleepers += [b.system.submit("test.sleeper", queue="urgent", seconds=6) for _ in range(3)]

    def both_busy() -> list[dict[str, Any]] | None:
        items = b.workers()
        names = {w["name"] for w in items}
        busy = [w for w in items if set(w["active"]) & set(sleepers)]
        return items if len(names) == 2 and len(busy) == 2 else None

    items = wait_for(both_busy, timeout=30, interval=0.2, what="2 workers running sleepers")
    by_name = {w["name"]: w for w in items}
    main = by_name[f"{b.system.name}-worker@{items[0]['hostname']}"]
    joined = next(w for w in items if w is not main)
    assert joined["name"].startswith(f"{b.system.name}-w2@")
    assert joined["queues"] == ["urgent"] and joined["concurrency"] == 1
    assert main["queues"] == ["urgent", "default"]  # bulk is paused
    assert main["configured_queues"] == ["urgent", "default", "bulk"]
    assert main["paused_queues"] == ["bulk"]
    for worker in items:
        assert worker["rss_bytes"] > 20_000_000, worker  # a main process and its pool
        assert worker["pid"] > 0 and worker["last_seen"]
    proc = b.system.processes["w2"]
    assert joined["pid"] == proc.pid
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    killed = time.monotonic()
    wait_for(
        lambda: joined["name"] not in {w["name"] for w in b.workers()},
        timeout=60,
        interval=0.5,
        what="the killed worker to drop off",
    )
    gone_after = time.monotonic() - killed
    assert gone_after < 60
    print(f"killed worker gone from the list after {gone_after:.1f}s")
    for job_id in sleepers[:2]:  # the first ones ran on the worker that lives on
        assert b.system.wait_job(job_id, timeout=60)["state"] == "SUCCESS"


def gate_of_a_worker_that_missed_the_pause(b: Box) -> None:
    """The pause is written to the database only, as if the broadcast was lost: a worker that
    still consumes the queue takes the job and the start gate holds it; resume sends it again."""
    with session_scope(b.system.settings) as session:
        queues.set_paused(session, name="urgent", paused=True, by="test")
    job_id = b.system.submit("test.sleeper", queue="urgent", seconds=0.1)

    def held_or_waiting() -> str | None:
        job = b.job(job_id)
        assert job["state"] == "QUEUED" and job["attempts"] == 0, job
        if job["message"] == queues.HELD:
            return "held by the start gate"
        client = redis.Redis(port=b.port)
        ids = waiting_ids(client, b.system.settings, "urgent", limit=100)
        client.close()
        return "left in its queue" if ids and job_id in ids else None

    how = wait_for(held_or_waiting, timeout=10, interval=0.1, what="the job held")
    print(f"urgent job {job_id[:8]} {how}")
    # The worker follows the pause from the database within a few seconds.
    wait_for(
        lambda: all("urgent" not in w["queues"] for w in b.workers()),
        timeout=15,
        interval=0.2,
        what="workers to stop consuming urgent",
    )
    assert b.job(job_id)["state"] == "QUEUED"
    # The abandoned-job sweep leaves a paused queue's jobs alone, even with no message in Redis.
    assert job_id not in {j.id for j in lost_queued(b.system.settings, older_than=0)}
    with b.api() as admin:
        resumed = admin.post("/api/v1/queues/urgent/resume")
    assert resumed.status_code == 200, resumed.text
    done = b.system.wait_job(job_id, timeout=30)
    assert done["state"] == "SUCCESS" and done["attempts"] == 1, done


def scrape(b: Box) -> dict[str, float]:
    with b.api() as client:
        text = client.get("/metrics").text
    found = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            found[name] = float(value)
    return found


def test_deploy_files_use_our_metric_names() -> None:
    """The Grafana dashboard and the alert rules name only metrics that /metrics serves."""
    source = (ROOT / "src" / "synapse" / "metrics.py").read_text()
    served = set(re.findall(r'"(synapse_[a-z_]+)"', source))
    served |= {f"{n}{s}" for n in served for s in ("_bucket", "_count", "_sum", "_total")}
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus-alerts.yml").read_text())
    alerts = {r["alert"]: r["expr"] for g in rules["groups"] for r in g["rules"]}
    assert {"SynapseBackupFailed", "SynapseScheduleMissed", "SynapseQueueLatencyHigh"} <= set(
        alerts
    )
    assert "SynapseNoWorker" in alerts
    dashboard = json.loads((ROOT / "deploy" / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    used = {m for e in [*alerts.values(), *exprs] for m in re.findall(r"synapse_[a-z_]+", e)}
    assert used and used <= served, used - served
    titles = " ".join(p["title"] for p in dashboard["panels"]).lower()
    for word in ("finished", "failures", "queue depth", "queue latency", "workers"):
        assert word in titles


def others_keep_running(b: Box) -> None:
    """While bulk is paused, urgent and default imports run; the queue figures and the metrics
    show bulk paused with its 5 jobs waiting."""
    others = [b.upload(100, "qa", "urgent"), b.upload(100, "qa", "default")]
    for job_id in others:
        done = b.system.wait_job(job_id, timeout=60)
        assert done["state"] == "SUCCESS" and done["result"]["created_count"] == 100
    waiting = b.queue("bulk")
    assert waiting["paused"] and waiting["depth"] == 5 and waiting["running"] == 0
    assert waiting["oldest_wait_seconds"] > 0
    metrics = scrape(b)
    assert metrics['synapse_queue_paused{queue="bulk"}'] == 1
    assert metrics['synapse_queue_paused{queue="urgent"}'] == 0
    assert metrics['synapse_queue_depth{queue="bulk"}'] == 5
    assert metrics['synapse_queue_oldest_wait_seconds{queue="bulk"}'] > 0
    assert metrics["synapse_workers_registered"] >= 1


def resumed_all_succeed(b: Box, bulk: list[str], *, urgent_resumed: bool) -> None:
    for job_id in bulk:
        done = b.system.wait_job(job_id, timeout=90)
        assert done["state"] == "SUCCESS", done
        assert done["attempts"] == 1 and done["result"]["created_count"] == 200
    assert b.queue("bulk")["paused"] is False
    with session_scope(b.system.settings) as session:
        trail = session.execute(
            select(AuditEvent.action, AuditEvent.actor, AuditEvent.target, AuditEvent.client)
            .where(AuditEvent.action.in_(["queue.pause", "queue.resume"]))
            .order_by(AuditEvent.id)
        ).all()
    admin = actor_of(b.system, ADMIN)
    expected = [("queue.pause", admin, "bulk"), ("queue.pause", admin, "bulk")]
    if urgent_resumed:
        expected.append(("queue.resume", admin, "urgent"))
    expected.append(("queue.resume", admin, "bulk"))
    assert [row[:3] for row in trail] == expected
    assert all(row[3] == "127.0.0.1" for row in trail)


def restart_and_join(b: Box) -> None:
    """Restart the worker and Redis; a second worker (urgent only) joins."""
    b.restart_worker()
    b.restart_redis()
    b.system.spawn(
        "w2", "worker", "--concurrency", "1", "--queues", "urgent",
        "--name", f"{b.system.name}-w2@%h",
    )  # fmt: skip


def terminate_all(boxes: list[Box]) -> None:
    """SIGTERM every process of every box at once; each system's stop then reaps them."""
    for b in boxes:
        for proc in b.system.processes.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)


def test_a_paused_queue_holds_across_restarts(tmp_path_factory: pytest.TempPathFactory) -> None:
    base = tmp_path_factory.mktemp("queues")
    began = time.monotonic()

    def phase(what: str) -> None:
        print(f"{time.monotonic() - began:5.1f}s {what}")

    with ExitStack() as stack:
        pg_url = stack.enter_context(postgres_database())
        boxes = [
            stack.enter_context(box("sqlite", base, None)),
            stack.enter_context(box("postgresql", base, pg_url)),
        ]
        stack.callback(terminate_all, boxes)  # runs first: both stop at once
        for b in boxes:  # both start at once
            b.system.wait_ready()
        phase("both systems ready")
        for b in boxes:
            pause_is_admin_only(b)
        bulk = {b.system.name: [b.upload(200, "qa", "bulk") for _ in range(5)] for b in boxes}
        with ThreadPoolExecutor(2) as pool:  # both at once
            list(pool.map(restart_and_join, boxes))
        window = time.monotonic()
        phase("bulk paused, 5 imports each, worker and Redis restarted, a worker joined")
        for b in boxes:
            none_started(b, bulk[b.system.name])
            others_keep_running(b)
        phase("urgent and default ran")
        two_workers_then_one(boxes[0])
        phase("two workers listed, the killed one gone")
        gate_of_a_worker_that_missed_the_pause(boxes[0])
        phase("the start gate held a job of a worker that missed the pause")

        def held_for_the_whole_window() -> bool:
            for b in boxes:
                none_started(b, bulk[b.system.name])
            return time.monotonic() - window >= HOLD_FOR

        wait_for(held_for_the_whole_window, timeout=HOLD_FOR + 30, interval=1, what="30 s")
        phase("none started in 30 s")
        for b in boxes:
            with b.api() as admin:
                resumed = admin.post("/api/v1/queues/bulk/resume")
            assert resumed.status_code == 200, resumed.text
            assert resumed.json()["paused"] is False and resumed.json()["changed"] is True
        for b in boxes:
            resumed_all_succeed(b, bulk[b.system.name], urgent_resumed=b is boxes[0])
        phase("resumed: all succeeded; audited")
