"""Helpers of the job benchmark: Redis, PostgreSQL scratch databases, one system's processes."""

from __future__ import annotations

import os
import platform
import signal
import subprocess
import sys
import uuid
from contextlib import suppress
from pathlib import Path

import redis

from common import free_port
from synapse.celery_app import create_celery
from synapse.config import Settings
from synapse.db.migrate import upgrade

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
CONCURRENCY = 2


class System:
    """A database, a key prefix and the processes of one benchmark system."""

    def __init__(self, work: Path, name: str, database_url: str, redis_url: str) -> None:
        self.name = name
        self.dir = work / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.prefix = f"bench-{uuid.uuid4().hex[:8]}"
        self.settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            data_dir=self.dir,
            database_url=database_url,
            redis_url=redis_url,
            redis_prefix=self.prefix,
            port=self.port,
        )
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("SYNAPSE_") and k not in ("DATABASE_URL", "REDIS_URL")
        }
        self.env.update(
            SYNAPSE_DATA_DIR=str(self.dir),
            DATABASE_URL=database_url,
            REDIS_URL=redis_url,
            SYNAPSE_REDIS_PREFIX=self.prefix,
            SYNAPSE_PORT=str(self.port),
            SYNAPSE_TASK_MODULES="jobs_tasks",
            PYTHONPATH=os.pathsep.join([str(BENCH), str(ROOT)]),
        )
        upgrade(self.settings)
        self.celery = create_celery(self.settings)
        self.redis = redis.Redis.from_url(redis_url)
        self.procs: list[subprocess.Popen[bytes]] = []

    def spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        with (self.dir / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "synapse", *args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs.append(proc)
        return proc

    def worker(self, name: str, **env: str) -> subprocess.Popen[bytes]:
        """One `synapse worker`; `env`: extra variables for it (SYNAPSE_PROJECT_CONCURRENCY)."""
        saved = dict(self.env)
        self.env.update(env)
        try:
            return self.spawn(
                name, "worker", "--concurrency", str(CONCURRENCY), "--name", f"{name}@%h"
            )
        finally:
            self.env = saved

    @staticmethod
    def stop(proc: subprocess.Popen[bytes]) -> None:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def waiting(self) -> tuple[int, int]:
        """(messages in the default queue, messages delivered and not acknowledged)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.llen(f"{self.prefix}:default")
        pipe.hlen(f"{self.prefix}:unacked")
        queued, held = pipe.execute()
        return int(queued), int(held)

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                self.stop(proc)
        self.celery.close()
        keys = list(self.redis.scan_iter(match=f"{self.prefix}:*", count=1000))
        for start in range(0, len(keys), 500):
            self.redis.delete(*keys[start : start + 500])


def machine(redis_url: str) -> str:
    import celery

    info = redis.Redis.from_url(redis_url).info("server")
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"Celery {celery.__version__}, Redis {info['redis_version']}"
    )
