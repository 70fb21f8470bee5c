"""A running SYNAPSE system for tests: real worker and API processes on real services."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import ClientConnection, connect

from synapse.config import Settings
from synapse.db.migrate import upgrade
from tests.support.services import clear_prefix
from tests.support.waiting import wait_for

FINISHED = {"SUCCESS", "FAILURE", "CANCELLED"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 15) -> None:
    """SIGTERM the process group, then SIGKILL whatever is left of it."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


@dataclass
class System:
    """Worker and API processes for one database; tests talk to it over HTTP and WebSocket."""

    name: str
    settings: Settings
    env: dict[str, str]
    log_dir: Path
    concurrency: int = 2
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _celery: Any = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.settings.port}/ws/logs"

    def spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        with (self.log_dir / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "synapse", *args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes[name] = proc
        return proc

    def start_worker(self, name: str = "worker") -> subprocess.Popen[bytes]:
        proc = self.spawn(
            name,
            "worker",
            "--concurrency",
            str(self.concurrency),
            "--name",
            f"{self.name}-{name}@%h",
        )
        return proc

    def start(self) -> None:
        self.start_worker()
        self.spawn("api", "api")
        self.wait_ready()

    def wait_ready(self) -> None:
        wait_for(self._ready, timeout=60, interval=0.2, what=f"{self.name} system /readyz")

    def celery(self) -> Any:
        from synapse.celery_app import create_celery

        if self._celery is None:
            self._celery = create_celery(self.settings)
        return self._celery

    def submit(self, task: str, queue: str = "default", **params: Any) -> str:
        """Queue a job of any task (the test tasks too) the way the API does."""
        from synapse.jobs.service import submit_job

        job = submit_job(
            settings=self.settings, celery=self.celery(), task_name=task, params=params, queue=queue
        )
        return job.id

    def _ready(self) -> bool:
        for name, proc in self.processes.items():
            if proc.poll() is not None:
                raise AssertionError(f"{name} exited with {proc.returncode}: {self.tail(name)}")
        return httpx.get(f"{self.base_url}/readyz", timeout=5).status_code == 200

    def tail(self, name: str, lines: int = 40) -> str:
        path = self.log_dir / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        for proc in self.processes.values():
            stop_process(proc)
        if self._celery is not None:
            self._celery.close()
        clear_prefix(self.settings.effective_redis_url, self.settings.redis_prefix + ":")

    # -- client helpers ---------------------------------------------------------------------

    def client(self) -> httpx.Client:
        """A client with the system's first admin token, when it has tokens."""
        headers = {}
        for entry in self.settings.tokens:
            if entry.principal.is_admin:
                headers["Authorization"] = f"Bearer {entry.secret}"
                break
        return httpx.Client(base_url=self.base_url, timeout=30, headers=headers)

    def upload(
        self, content: bytes, *, project: str, filename: str = "assets.csv", **form: str
    ) -> httpx.Response:
        with self.client() as client:
            return client.post(
                "/api/v1/ingestion/upload-csv",
                files={"file": (filename, content, "text/csv")},
                data={"project_id": project, **form},
            )

    def job(self, job_id: str) -> dict[str, Any]:
        with self.client() as client:
            response = client.get(f"/api/v1/jobs/{job_id}")
            response.raise_for_status()
            body: dict[str, Any] = response.json()
            return body

    def wait_job(self, job_id: str, timeout: float = 60) -> dict[str, Any]:
        return wait_for(
            lambda: (job := self.job(job_id))["state"] in FINISHED and job,
            timeout=timeout,
            what=f"job {job_id} to finish",
        )

    def import_csv(self, content: bytes, *, project: str, **form: str) -> dict[str, Any]:
        response = self.upload(content, project=project, **form)
        assert response.status_code == 202, response.text
        return self.wait_job(response.json()["job_id"])


class EventCollector:
    """A WebSocket client on /ws/logs that keeps every message it receives, in a thread."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.messages: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._open = threading.Event()
        self._conn: ClientConnection | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._open.wait(15) or self._conn is None:
            raise AssertionError(f"could not open {url}: {self._error!r}")

    def _run(self) -> None:
        try:
            with connect(self.url, open_timeout=10) as conn:
                self._conn = conn
                self._open.set()
                for raw in conn:
                    with self._lock:
                        self.messages.append(json.loads(raw))
        except Exception as exc:  # closed, or could not connect
            self._error = exc
            self._open.set()

    def for_job(self, job_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [m for m in self.messages if m.get("context", {}).get("task_id") == job_id]

    def wait_final(self, job_id: str, timeout: float = 60) -> list[dict[str, Any]]:
        def final() -> list[dict[str, Any]] | None:
            events = self.for_job(job_id)
            done = any(
                e["action_type"] in ("STATE", "SNAPSHOT") and e["context"]["state"] in FINISHED
                for e in events
            )
            return events if done else None

        return wait_for(final, timeout=timeout, what=f"final event of {job_id}")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._thread.join(timeout=10)


# Reliability timings scaled down so fault tests see redelivery and retries within seconds.
FAST = {
    "SYNAPSE_VISIBILITY_TIMEOUT": "6",
    "SYNAPSE_HEARTBEAT_INTERVAL": "1",
    "SYNAPSE_RESTORE_INTERVAL": "1",
    "SYNAPSE_RETRY_BACKOFF": "0.5",
    "SYNAPSE_RETRY_BACKOFF_MAX": "2",
    "SYNAPSE_PROGRESS_DB_INTERVAL": "0.1",
    "SYNAPSE_TASK_MODULES": "tests.support.tasks",
}
ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def running_system(
    name: str,
    *,
    database_url: str,
    redis_url: str,
    base: Path,
    concurrency: int = 2,
    start: bool = True,
    **extra_env: str,
) -> Iterator[System]:
    data_dir = base / name
    data_dir.mkdir(parents=True, exist_ok=True)
    prefix = f"synapse-test-{uuid.uuid4().hex[:10]}"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SYNAPSE_") and k not in ("DATABASE_URL", "REDIS_URL")
    }
    port = free_port()
    env.update(
        SYNAPSE_DATA_DIR=str(data_dir),
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        SYNAPSE_REDIS_PREFIX=prefix,
        SYNAPSE_PORT=str(port),
        SYNAPSE_MAX_UPLOAD_MB="2",
        PYTHONPATH=str(ROOT),
    )
    env.update(FAST)
    env.update(extra_env)
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=data_dir,
        database_url=database_url,
        redis_url=redis_url,
        redis_prefix=prefix,
        port=port,
        max_upload_mb=int(env["SYNAPSE_MAX_UPLOAD_MB"]),
        visibility_timeout=int(env["SYNAPSE_VISIBILITY_TIMEOUT"]),
        heartbeat_interval=float(env["SYNAPSE_HEARTBEAT_INTERVAL"]),
        retry_backoff_max=float(env["SYNAPSE_RETRY_BACKOFF_MAX"]),
        api_tokens=env.get("SYNAPSE_API_TOKENS", ""),
    )
    upgrade(settings)
    system = System(
        name=name, settings=settings, env=env, log_dir=data_dir, concurrency=concurrency
    )
    try:
        if start:
            system.start()
        yield system
    finally:
        system.stop()
