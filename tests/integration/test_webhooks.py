"""Webhooks against a real worker, Redis, SQLite and PostgreSQL, and a real HTTP receiver in the
test (private addresses allowed by SYNAPSE_WEBHOOK_ALLOW_PRIVATE for it): signed job.succeeded
and job.failed, retries while the receiver answers 500, the delivery log, backup.failed, the
send-test ping, a project's hook, and the SSRF guard with the setting off (docs/webhooks.md)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from synapse.db.engine import session_scope
from synapse.db.models import Webhook, WebhookDelivery, utcnow
from synapse.jobs.redis_client import get_redis
from synapse.jobs.service import submit_job
from synapse.maintenance import beatlock
from synapse.webhooks import delivery, service, signing
from tests.support.services import postgres_database
from tests.support.system import System, free_port, running_system, stop_process
from tests.support.waiting import wait_for


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def payload(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@dataclass
class Receiver:
    """A local HTTP server that records every POST; `fail[path]` 500s come before a 200."""

    server: ThreadingHTTPServer
    got: list[Received] = field(default_factory=list)
    fail: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.got if r.path == path]


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    holder: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            rec = holder["r"]
            with rec.lock:
                rec.got.append(Received(self.path, dict(self.headers.items()), body))
                failing = rec.fail.get(self.path, 0)
                if failing:
                    rec.fail[self.path] = failing - 1
            self.send_response(500 if failing else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder["r"] = Receiver(server)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield holder["r"]
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def hooked(
    request: pytest.FixtureRequest, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[System]:
    base: Path = tmp_path_factory.mktemp("webhooks")
    blocker = base / "not-a-folder"
    blocker.write_text("backups cannot be made under a file")
    env = {
        "SYNAPSE_WEBHOOK_ALLOW_PRIVATE": "true",
        "SYNAPSE_WEBHOOK_BACKOFF": "0.3",
        "SYNAPSE_WEBHOOK_BACKOFF_MAX": "0.6",
        "SYNAPSE_WEBHOOK_TIMEOUT": "5",
        "SYNAPSE_BACKUP_DIR": str(blocker / "backups"),
    }
    if request.param == "sqlite":
        url = f"sqlite:///{base / 'sqlite' / 'synapse.db'}"
        with running_system("sqlite", database_url=url, redis_url=redis_url, base=base, **env) as s:
            yield s
    else:
        with (
            postgres_database() as url,
            running_system(
                "postgresql", database_url=url, redis_url=redis_url, base=base, **env
            ) as s,
        ):
            yield s


def make_hook(system: System, url: str, events: list[str], project: str | None = None) -> Any:
    with system.client() as client:
        r = client.post(
            "/api/v1/webhooks", json={"url": url, "events": events, "project_id": project}
        )
    assert r.status_code == 201, r.text
    hook = r.json()
    assert hook["secret"].startswith("whsec_")
    return hook


def log_of(system: System, hook_id: int) -> dict[str, Any]:
    with system.client() as client:
        r = client.get(f"/api/v1/webhooks/{hook_id}/deliveries")
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()
    return found


def signed(got: Received, secret: str) -> bool:
    header = got.headers["X-Synapse-Signature"]
    return header.startswith("sha256=") and signing.verify(secret, got.body, header)


def test_job_events_arrive_signed_and_the_secret_is_shown_once(
    hooked: System, receiver: Receiver
) -> None:
    hook = make_hook(hooked, receiver.url(f"/{hooked.name}/jobs"), ["job.succeeded", "job.failed"])
    ok = hooked.submit("test.sleeper", seconds=0.1)
    bad = hooked.submit("test.bad_input")
    assert hooked.wait_job(ok)["state"] == "SUCCESS"
    assert hooked.wait_job(bad)["state"] == "FAILURE"

    def both() -> dict[str, Received] | None:
        seen = {r.payload["data"]["job_id"]: r for r in receiver.at(f"/{hooked.name}/jobs")}
        return seen if ok in seen and bad in seen else None

    seen = wait_for(both, timeout=20, what="job.succeeded and job.failed at the receiver")
    for job_id, event in ((ok, "job.succeeded"), (bad, "job.failed")):
        got = seen[job_id]
        assert signed(got, hook["secret"]), got.headers
        assert got.headers["X-Synapse-Event"] == event == got.payload["event"]
        assert got.headers["X-Synapse-Delivery"] == got.payload["id"]
        assert got.headers["X-Synapse-Timestamp"].isdigit()
        assert got.headers["Content-Type"] == "application/json"
    assert seen[bad].payload["data"]["error"] == "row 2: power_kw is not a number"
    assert not signed(seen[ok], "whsec_another-secret")
    with hooked.client() as client:
        listed = client.get("/api/v1/webhooks").json()
        audit = client.get("/api/v1/audit", params={"action": "webhook.create"}).json()
    mine = next(h for h in listed["items"] if h["id"] == hook["id"])
    assert "secret" not in mine and hook["secret"] not in json.dumps(listed)
    assert hook["secret"] not in json.dumps(audit) and audit["total"] >= 1
    for name in ("api.log", "worker.log"):
        assert hook["secret"] not in (hooked.log_dir / name).read_text(errors="replace")


def test_a_failing_receiver_is_retried_until_it_answers_2xx(
    hooked: System, receiver: Receiver
) -> None:
    hook = make_hook(hooked, receiver.url(f"/{hooked.name}/flaky"), ["job.succeeded"])
    with receiver.lock:
        receiver.fail[f"/{hooked.name}/flaky"] = 2
    job = hooked.submit("test.sleeper", seconds=0.05)
    assert hooked.wait_job(job)["state"] == "SUCCESS"

    def delivered() -> dict[str, Any] | None:
        found = log_of(hooked, hook["id"])
        return found if found["total"] == 3 and found["items"][0]["ok"] else None

    log = wait_for(delivered, timeout=20, what="three attempts, the last one a 200")
    attempts = sorted(log["items"], key=lambda a: a["attempt"])
    assert [a["attempt"] for a in attempts] == [1, 2, 3]
    assert [a["status_code"] for a in attempts] == [500, 500, 200]
    assert all(a["event"] == "job.succeeded" and a["job_id"] == job for a in attempts)
    assert all(a["latency_ms"] >= 0 and a["at"] and a["error"] is None for a in attempts)
    assert attempts[0]["next_attempt_at"] and attempts[1]["next_attempt_at"]
    assert attempts[2]["next_attempt_at"] is None
    assert {a["delivery_state"] for a in attempts} == {"delivered"} and log["pending"] == 0
    posts = [p for p in receiver.at(f"/{hooked.name}/flaky") if p.payload["data"]["job_id"] == job]
    assert len(posts) == 3 and len({p.body for p in posts}) == 1  # the same bytes each time
    assert [p.headers["X-Synapse-Attempt"] for p in posts] == ["1", "2", "3"]
    assert all(signed(p, hook["secret"]) for p in posts)


def test_backup_failed_ping_and_project_hooks(hooked: System, receiver: Receiver) -> None:
    every = make_hook(
        hooked, receiver.url(f"/{hooked.name}/ops"), ["backup.failed", "job.cancelled"]
    )
    mine = make_hook(
        hooked, receiver.url(f"/{hooked.name}/proj"), ["job.succeeded"], project="proj-hook"
    )
    with hooked.client() as client:
        r = client.post("/api/v1/admin/backups")
        assert r.status_code == 202, r.text
        backup = r.json()["job_id"]
        assert hooked.wait_job(backup)["state"] == "FAILURE"
        r = client.post(f"/api/v1/webhooks/{every['id']}/test")
        assert r.status_code == 202 and r.json()["event"] == "ping"
    other = hooked.submit("test.sleeper", seconds=0.05)
    ours = submit_job(
        settings=hooked.settings,
        celery=hooked.celery(),
        task_name="test.sleeper",
        params={"seconds": 0.05},
        project_key="proj-hook",
    ).id
    for job_id in (other, ours):
        assert hooked.wait_job(job_id)["state"] == "SUCCESS"

    def ops_events() -> set[str] | None:
        events = {r.payload["event"] for r in receiver.at(f"/{hooked.name}/ops")}
        return events if {"backup.failed", "ping"} <= events else None

    wait_for(ops_events, timeout=20, what="backup.failed and ping")
    failed = next(
        r for r in receiver.at(f"/{hooked.name}/ops") if r.payload["event"] == "backup.failed"
    )
    assert failed.payload["data"]["job_id"] == backup
    assert "cannot create the backup folder" in failed.payload["data"]["error"]
    assert all(signed(r, every["secret"]) for r in receiver.at(f"/{hooked.name}/ops"))
    wait_for(
        lambda: receiver.at(f"/{hooked.name}/proj"), timeout=20, what="the project's job.succeeded"
    )
    assert [r.payload["data"]["job_id"] for r in receiver.at(f"/{hooked.name}/proj")] == [ours]
    with hooked.client() as client:
        assert client.delete(f"/api/v1/webhooks/{mine['id']}").status_code == 204
        assert client.get(f"/api/v1/webhooks/{mine['id']}/deliveries").status_code == 404
        actions = {e["action"] for e in client.get("/api/v1/audit").json()["items"]}
    assert {"webhook.create", "webhook.test", "webhook.delete"} <= actions


@pytest.fixture(scope="module")
def strict_api(hooked: System) -> Iterator[str]:
    """A second API process on the same database, with SYNAPSE_WEBHOOK_ALLOW_PRIVATE off."""
    port = free_port()
    env = {**hooked.env, "SYNAPSE_WEBHOOK_ALLOW_PRIVATE": "false", "SYNAPSE_PORT": str(port)}
    with (hooked.log_dir / "api-strict.log").open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "synapse", "api"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        assert proc.poll() is None, "the strict API exited"
        return httpx.get(f"{url}/healthz", timeout=5).status_code == 200

    try:
        wait_for(up, timeout=30, interval=0.1, what="the strict API")
        yield url
    finally:
        stop_process(proc)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://10.0.0.1/hook", "private"),
        ("http://127.0.0.1:9/hook", "loopback"),
        ("http://[::1]/hook", "loopback"),
        ("http://[::ffff:169.254.169.254]/", "link-local"),
        ("http://localhost/hook", "loopback"),
        ("ftp://example.com/hook", "http:// or https://"),
    ],
)
def test_private_addresses_are_refused_without_the_setting(
    strict_api: str, url: str, why: str
) -> None:
    r = httpx.post(
        f"{strict_api}/api/v1/webhooks", json={"url": url, "events": ["job.failed"]}, timeout=30
    )
    assert r.status_code == 422, r.text
    assert why in r.json()["detail"]


def test_the_address_is_checked_again_when_delivering(hooked: System) -> None:
    """A hook made while private addresses were allowed is refused at delivery time once they
    are not: no connection is made, the attempt records why."""
    with session_scope(hooked.settings) as session:
        hook = Webhook(url="http://10.0.0.1/x", events=["job.failed"], secret="whsec_x")
        session.add(hook)
        session.flush()
        (made,) = service.add_deliveries(session, [hook], event="job.failed", data={}, dedupe="t")
    strict = hooked.settings.model_copy(
        update={"webhook_allow_private": False, "webhook_max_age": 0.001}
    )
    assert delivery.deliver(strict, made) == "failed"  # too old to try again: no new message
    log = log_of(hooked, hook.id)
    (attempt,) = log["items"]
    assert attempt["status_code"] is None and attempt["latency_ms"] < 1000
    assert attempt["error"].startswith("refused: ") and "10.0.0.1" in attempt["error"]
    assert delivery.deliver(strict, made) is None  # finished: a late duplicate does nothing
    with httpx.Client(base_url=hooked.base_url) as client:
        assert client.delete(f"/api/v1/webhooks/{hook.id}").status_code == 204


def test_the_sweep_sends_lost_deliveries_and_missed_slots_once(
    hooked: System, receiver: Receiver
) -> None:
    """A due delivery whose message was lost goes out with the next sweep; a schedule slot
    missed while beat was watching becomes one schedule.missed, however often the sweep runs."""
    path = f"/{hooked.name}/sweep"
    with session_scope(hooked.settings) as session:
        hook = Webhook(url=receiver.url(path), events=["schedule.missed"], secret="whsec_s")
        session.add(hook)
        session.flush()
        (lost,) = service.add_deliveries(
            session, [hook], event="schedule.missed", data={"lost": True}, dedupe="lost"
        )
        row = session.get(WebhookDelivery, lost)
        assert row is not None
        row.next_attempt_at = utcnow() - timedelta(minutes=10)  # and no message was ever sent
        (old,) = service.add_deliveries(
            session, [hook], event="schedule.missed", data={}, dedupe="old"
        )
        done = session.get(WebhookDelivery, old)
        assert done is not None
        done.state, done.finished_at = "delivered", utcnow() - timedelta(days=40)
    since = (utcnow() - timedelta(days=2)).isoformat()
    get_redis(hooked.settings).set(beatlock.keys(hooked.settings)["since"], since)
    for _ in range(2):
        hooked.celery().send_task("synapse.sweep_abandoned_jobs", queue="default")

    def missed() -> set[str] | None:
        names = {r.payload["data"].get("name") for r in receiver.at(path)}
        return names if "prune-job-history" in names and None in names else None

    wait_for(missed, timeout=20, what="the lost delivery and schedule.missed of the prune")

    def settled() -> dict[str, Any] | None:
        found = log_of(hooked, hook.id)
        return found if found["pending"] == 0 else None

    log = wait_for(settled, timeout=10, what="no delivery left pending")
    per_slot = [a for a in log["items"] if a["event"] == "schedule.missed"]
    assert len(per_slot) == len({a["delivery_id"] for a in per_slot})  # one attempt each
    names = [r.payload["data"].get("name") for r in receiver.at(path)]
    assert names.count("prune-job-history") == 1 and names.count(None) == 1
    assert all(signed(r, "whsec_s") for r in receiver.at(path))
    with session_scope(hooked.settings) as session:  # past the retention: pruned by the sweep
        assert session.get(WebhookDelivery, old) is None
