"""Redis and PostgreSQL going away for a while (30 s by default), and Redis restarting.

The dependency is cut for real through a TCP proxy, or its server process is restarted.
`SYNAPSE_TEST_OUTAGE_SECONDS` shortens the outage for a quick local run.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
import redis

from synapse.embedded import redis_server_binary
from tests.support.csvdata import assets_csv
from tests.support.proxy import Proxy, proxy
from tests.support.services import postgres_database
from tests.support.system import EventCollector, System, free_port, running_system
from tests.support.waiting import wait_for

OUTAGE = float(os.environ.get("SYNAPSE_TEST_OUTAGE_SECONDS", "30"))
# Retries that outlast the outage: 2, 4, 8, 16, 16, … seconds.
PATIENT = {
    "SYNAPSE_RETRY_BACKOFF": "2",
    "SYNAPSE_RETRY_BACKOFF_MAX": "16",
    "SYNAPSE_RETRY_MAX": "10",
    "SYNAPSE_VISIBILITY_TIMEOUT": "40",
}


def upstream_of(url: str) -> tuple[str, int] | str:
    if url.startswith("unix://"):
        return url[len("unix://") :]
    parts = urlsplit(url)
    return (parts.hostname or "127.0.0.1", parts.port or 6379)


def readyz(system: System) -> int:
    return httpx.get(f"{system.base_url}/readyz", timeout=10).status_code


def total_assets(system: System, key: str) -> int:
    with system.client() as client:
        return int(client.get(f"/api/v1/projects/{key}/assets").json()["total"])


def ride_out(system: System, cut: Proxy) -> None:
    """Cut the dependency for OUTAGE seconds, checking what the API says meanwhile."""
    cut.cut()
    started = time.monotonic()
    during_outage_the_api_answers(system)
    time.sleep(max(0.0, OUTAGE - (time.monotonic() - started)))  # the outage itself
    cut.heal()
    wait_for(lambda: readyz(system) == 200, timeout=60, what="readyz after the outage")


def during_outage_the_api_answers(system: System) -> None:
    assert httpx.get(f"{system.base_url}/healthz", timeout=10).status_code == 200
    wait_for(lambda: readyz(system) == 503, timeout=20, what="readyz to report the outage")
    refused = system.upload(assets_csv(5), project="outage")
    assert refused.status_code == 503, refused.text
    assert "unavailable" in refused.json()["detail"]


def test_redis_away_for_a_while(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    base = tmp_path_factory.mktemp("redis-outage")
    with proxy(upstream_of(redis_url)) as cut:
        url = f"sqlite:///{base / 'redis-outage' / 'synapse.db'}"
        with running_system(
            "redis-outage",
            database_url=url,
            redis_url=f"redis://127.0.0.1:{cut.port}/0",
            base=base,
            concurrency=1,
            **PATIENT,
        ) as system:
            events = EventCollector(system.ws_url)
            try:
                key = f"ro-{uuid.uuid4().hex[:6]}"
                sleeper = system.submit("test.sleeper", seconds=4)
                queued = system.upload(assets_csv(1000), project=key).json()["job_id"]
                wait_for(lambda: system.job(sleeper)["state"] == "RUNNING", timeout=30)

                ride_out(system, cut)
                assert system.wait_job(sleeper, timeout=120)["state"] == "SUCCESS"
                done = system.wait_job(queued, timeout=120)
                assert done["state"] == "SUCCESS" and done["result"]["created_count"] == 1000
                assert total_assets(system, key) == 1000
                # The relay found Redis again by itself: live events flow to the old socket.
                after = system.upload(assets_csv(10), project=key).json()["job_id"]
                events.wait_final(after)
            finally:
                events.close()


def test_postgres_away_for_a_while(
    redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    base = tmp_path_factory.mktemp("pg-outage")
    with postgres_database() as real_url:
        parts = urlsplit(real_url)
        with proxy((parts.hostname or "127.0.0.1", parts.port or 5432)) as cut:
            url = real_url.replace(parts.netloc, f"{parts.username}@127.0.0.1:{cut.port}")
            with running_system(
                "pg-outage",
                database_url=url,
                redis_url=redis_url,
                base=base,
                concurrency=1,
                **PATIENT,
            ) as system:
                key = f"po-{uuid.uuid4().hex[:6]}"
                sleeper = system.submit("test.sleeper", seconds=4)
                queued = system.upload(assets_csv(2000), project=key).json()["job_id"]
                wait_for(lambda: system.job(sleeper)["state"] == "RUNNING", timeout=30)

                ride_out(system, cut)
                assert system.wait_job(sleeper, timeout=180)["state"] == "SUCCESS"
                done = system.wait_job(queued, timeout=180)
                assert done["state"] == "SUCCESS", done
                assert done["result"]["created_count"] == 2000
                assert total_assets(system, key) == 2000
                with psycopg.connect(real_url) as conn:
                    stuck = conn.execute(
                        "SELECT count(*) FROM jobs WHERE state IN ('RUNNING', 'RETRYING')"
                    ).fetchone()
                assert stuck == (0,)


def start_redis(folder: Path, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
         "--appendonly", "yes", "--appendfsync", "everysec", "--save", ""],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    client = redis.Redis(port=port)
    wait_for(client.ping, timeout=15, what="redis-server")
    client.close()
    return proc


def test_queued_job_survives_a_redis_restart(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = tmp_path / "redis"
    folder.mkdir()
    port = free_port()
    server = start_redis(folder, port)
    try:
        base = tmp_path_factory.mktemp("redis-restart")
        url = f"sqlite:///{base / 'redis-restart' / 'synapse.db'}"
        with running_system(
            "redis-restart",
            database_url=url,
            redis_url=f"redis://127.0.0.1:{port}/0",
            base=base,
            start=False,
        ) as system:
            system.spawn("api", "api")  # no worker yet: the job waits in Redis
            wait_for(lambda: httpx.get(f"{system.base_url}/healthz").status_code == 200)
            key = f"rr-{uuid.uuid4().hex[:6]}"
            job_id = system.upload(assets_csv(300), project=key).json()["job_id"]
            assert system.job(job_id)["state"] == "QUEUED"

            server.terminate()  # redis-server writes its AOF and exits
            server.wait(timeout=15)
            server = start_redis(folder, port)

            system.start_worker()
            done = system.wait_job(job_id, timeout=60)
            assert done["state"] == "SUCCESS" and done["result"]["created_count"] == 300
    finally:
        server.kill()
        server.wait()
