"""What every benchmark script needs: a progress sink, a free port, a scratch PostgreSQL
database, a Redis server, and waiting for a condition."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import psycopg
import redis


class Quiet:
    """Progress that goes nowhere: the benchmarks measure the work, not the event stream."""

    def update_progress(
        self, current: int, total: int, message: str, *, percent: int | None = None
    ) -> None:
        pass

    def log(self, level: str, message: str) -> None:
        pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scratch_postgres(admin: str, *, required: bool = False) -> str | None:
    """A new, empty database on the server of `admin` (its URL); None, with a line saying so,
    when the server does not answer (a SystemExit instead when `required`)."""
    name = f"synapse_bench_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        if required:
            raise SystemExit(f"PostgreSQL not reachable: {exc}") from None
        print(f"\nPostgreSQL not reachable ({exc}): skipped")
        return None
    return f"{admin.rsplit('/', 1)[0]}/{name}"


def drop_postgres(admin: str, url: str) -> None:
    """Drop a scratch database (this process's connections to it closed first)."""
    from synapse.db.engine import dispose_engines

    dispose_engines()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def wait(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """The first true value of `check()` (exceptions count as not yet), or SystemExit."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with suppress(Exception):
            value = check()
            if value:
                return value
        time.sleep(interval)
    raise SystemExit(f"timed out waiting for {what}")


@contextmanager
def redis_server(work: Path) -> Iterator[str]:
    """SYNAPSE_BENCH_REDIS_URL or SYNAPSE_TEST_REDIS_URL, else a private redis-server (no
    persistence) in `work` for the length of the block."""
    url = os.environ.get("SYNAPSE_BENCH_REDIS_URL") or os.environ.get("SYNAPSE_TEST_REDIS_URL")
    if url:
        yield url
        return
    from synapse.embedded import redis_server_binary

    port = free_port()
    proc = subprocess.Popen(
        [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(work)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    try:
        wait(lambda: redis.Redis.from_url(url).ping(), 15, "redis-server")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=15)
