"""The real services the suite runs against: Redis and PostgreSQL.

With `SYNAPSE_TEST_REDIS_URL` / `SYNAPSE_TEST_POSTGRES_URL` set (CI sets both) the suite uses
those servers; without a Redis URL it starts a real `redis-server` of its own. Without a
PostgreSQL URL the PostgreSQL tests skip locally and fail in CI (`CI=true`).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
import redis

from synapse.embedded import redis_server_binary
from tests.support.waiting import wait_for

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(what: str) -> None:
    """Missing service: skip locally, fail in CI."""
    message = f"{what} is not available"
    if IN_CI:
        pytest.fail(f"{message}, and CI must run every test")
    pytest.skip(message)


@contextmanager
def redis_server() -> Iterator[str]:
    """A Redis URL: the configured server, or a private redis-server on a unix socket."""
    url = os.environ.get("SYNAPSE_TEST_REDIS_URL")
    if url:
        try:
            redis.Redis.from_url(url, socket_connect_timeout=3).ping()
        except redis.RedisError as exc:
            pytest.fail(f"SYNAPSE_TEST_REDIS_URL={url} does not answer: {exc}")
        yield url
        return
    with tempfile.TemporaryDirectory(prefix="synapse-redis-") as folder:
        sock = Path(folder) / "redis.sock"
        proc = subprocess.Popen(
            [redis_server_binary(), "--port", "0", "--unixsocket", str(sock), "--save", "",
             "--appendonly", "no", "--dir", folder],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            client = redis.Redis(unix_socket_path=str(sock))
            wait_for(client.ping, timeout=15, what="the test redis-server")
            yield f"unix://{sock}"
        finally:
            proc.terminate()
            proc.wait(timeout=15)


def clear_prefix(url: str, prefix: str) -> None:
    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    for start in range(0, len(keys), 500):
        client.delete(*keys[start : start + 500])
    client.close()


def postgres_admin_url() -> str | None:
    return os.environ.get("SYNAPSE_TEST_POSTGRES_URL")


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped afterwards."""
    admin = postgres_admin_url()
    if not admin:
        require("PostgreSQL (set SYNAPSE_TEST_POSTGRES_URL)")
        raise AssertionError("unreachable")
    name = f"synapse_test_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        require(f"PostgreSQL at {admin} ({exc})")
    base = admin.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
