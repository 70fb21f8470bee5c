"""The Job Queue at scale: `make bench-ui`.

Seeds 100,000 finished jobs (all finished within the last 24 hours, so the page's default window
holds every one of them) in bulk into a fresh SQLite database, and into a fresh PostgreSQL
database when `--postgres URL` or SYNAPSE_TEST_POSTGRES_URL gives a server; starts the API
(uvicorn through the app factory, no worker) and times 20 requests of each: the Job Queue page,
`GET /api/v1/jobs` (first page, a cursor page, the FAILED section's second page), and a search by
an 8-character id prefix, which must find its job. Target: p95 < 300 ms.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from synapse.config import Settings  # noqa: E402
from synapse.db.engine import dispose_engines, get_engine  # noqa: E402
from synapse.db.migrate import upgrade  # noqa: E402
from synapse.db.models import Job  # noqa: E402
from synapse.embedded import redis_server_binary  # noqa: E402

TARGET_MS = 300.0
TYPES = ("import_csv_assets", "generate_package", "run_rules")
BATCH = 5_000


def job_row(i: int, now: datetime, span: timedelta, rng: random.Random) -> dict[str, Any]:
    created = now - span * (1 - i / 100_000) - timedelta(seconds=30)
    kind = TYPES[i % 3]
    state = "FAILURE" if i % 10 == 3 else "CANCELLED" if i % 20 == 7 else "SUCCESS"
    params: dict[str, Any] = {"project_id": f"proj-{i % 20:03d}"}
    if kind == "import_csv_assets":
        upload = uuid.UUID(int=rng.getrandbits(128))
        params |= {"filename": f"station-{i}.csv", "mode": "upsert", "skip_invalid": False,
                   "file_path": f"/data/uploads/{upload}.csv"}  # fmt: skip
    elif kind == "generate_package":
        params |= {"package_type": "full", "options": {"formats": ["xlsx", "pdf"]}}
    return {
        "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "type": kind,
        "project_key": params["project_id"],
        "params": params,
        "queue": "default",
        "state": state,
        "percent": 100 if state == "SUCCESS" else 40,
        "current": 100,
        "total": 100,
        "message": "Import complete: 100 created" if state == "SUCCESS" else "Failed",
        "result": {"created_count": 100} if state == "SUCCESS" else None,
        "error": f"row {i % 500 + 2}: power_kw is not a number" if state == "FAILURE" else None,
        "attempts": 1,
        "created_at": created,
        "started_at": created + timedelta(seconds=1),
        "finished_at": created + timedelta(seconds=3),
        "submitted_by": f"member-{i % 7:08x}",
        "lost_count": 0,
    }


def seed(settings: Settings, rows: int) -> tuple[float, list[str]]:
    """Insert `rows` finished jobs in batches; returns the seconds it took and some ids."""
    from sqlalchemy import insert

    rng = random.Random(13)
    now = datetime.now(UTC)
    started = time.perf_counter()
    ids: list[str] = []
    engine = get_engine(settings)
    with engine.begin() as conn:
        for start in range(0, rows, BATCH):
            batch = [
                job_row(i, now, timedelta(hours=23), rng)
                for i in range(start, min(rows, start + BATCH))
            ]
            conn.execute(insert(Job), batch)
            ids.append(batch[len(batch) // 2]["id"])
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    dispose_engines()
    return time.perf_counter() - started, ids


@contextmanager
def redis_url(tmp: Path) -> Iterator[str]:
    url = os.environ.get("SYNAPSE_TEST_REDIS_URL")
    if url:
        yield url
        return
    sock = tmp / "redis.sock"
    proc = subprocess.Popen(
        [redis_server_binary(), "--port", "0", "--unixsocket", str(sock), "--save", "",
         "--appendonly", "no", "--dir", str(tmp)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait(lambda: sock.exists(), "redis-server")
        yield f"unix://{sock}"
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def wait(check: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # not up yet
            pass
        time.sleep(0.1)
    raise SystemExit(f"timed out waiting for {what}")


@contextmanager
def api(database_url: str, redis: str, data_dir: Path) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNAPSE_")}
    env |= {"DATABASE_URL": database_url, "REDIS_URL": redis, "SYNAPSE_DATA_DIR": str(data_dir),
            "SYNAPSE_REDIS_PREFIX": f"bench-ui-{uuid.uuid4().hex[:8]}",
            "SYNAPSE_LOG_LEVEL": "WARNING"}  # fmt: skip
    cmd = [sys.executable, "-m", "uvicorn", "synapse.api.app:create_app", "--factory",
           "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]  # fmt: skip
    with (data_dir / "api.log").open("ab") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait(lambda: httpx.get(f"{base}/healthz", timeout=2).status_code == 200, "the API")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def timed(
    client: httpx.Client, url: str, n: int, check: Callable[[httpx.Response], None]
) -> list[float]:
    client.get(url)  # warm: first use of the connection, the plan cache
    times = []
    for _ in range(n):
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code, response.text[:300])
        check(response)
    return times


def p95(times: list[float]) -> float:
    ordered = sorted(times)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)]


def measure(base: str, ids: list[str], n: int, rows: int) -> list[tuple[str, list[float]]]:
    out: list[tuple[str, list[float]]] = []
    with httpx.Client(base_url=base, timeout=60) as c:
        first = c.get("/api/v1/jobs", params={"limit": 50}).json()
        assert first["total"] == rows, first["total"]
        cursor = first["next_cursor"]
        failed = c.get("/api/v1/jobs", params={"state": "failed", "limit": 50}).json()
        target = ids[len(ids) // 2]

        def ok(_r: httpx.Response) -> None:
            return None

        def found(r: httpx.Response) -> None:
            assert target in {j["id"] for j in r.json()["items"]}, "the id prefix did not find it"

        def html(r: httpx.Response) -> None:
            assert "FAILED" in r.text and "Job Queue" in r.text

        cases = [
            ("Job Queue page /", "/", html),
            ("Job Queue page, FAILED only", "/?state=failed", ok),
            (
                "Job Queue page, FAILED 2nd page",
                f"/?state=failed&cursor={failed['next_cursor']}",
                ok,
            ),
            ("GET /api/v1/jobs (first page)", "/api/v1/jobs?limit=50", ok),
            ("GET /api/v1/jobs?cursor= (2nd page)", f"/api/v1/jobs?limit=50&cursor={cursor}", ok),
            ("GET /api/v1/jobs?q=<8-char id prefix>", f"/api/v1/jobs?q={target[:8]}", found),
            ("GET /api/v1/jobs?q=<file name>", "/api/v1/jobs?q=station-4242.csv", ok),
        ]
        for name, url, check in cases:
            out.append((name, timed(c, url, n, check)))
    return out


def run(label: str, database_url: str, rows: int, n: int, tmp: Path, redis: str) -> list[str]:
    data_dir = tmp / label
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = Settings(_env_file=None, data_dir=data_dir, database_url=database_url)  # type: ignore[call-arg]
    upgrade(settings)
    seconds, ids = seed(settings, rows)
    lines = [f"{label}: seeded {rows:,} finished jobs in {seconds:.1f} s"]
    with api(database_url, redis, data_dir) as base:
        results = measure(base, ids, n, rows)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines.append(
        f"load average after the requests (1, 5, 15 min): {load} on {os.cpu_count()} cores"
    )
    lines.append(f"| {label} | request | p50 ms | p95 ms | max ms | < {TARGET_MS:.0f} ms |")
    lines.append("|---|---|---:|---:|---:|---|")
    for name, times in results:
        verdict = "yes" if p95(times) < TARGET_MS else "**no**"
        lines.append(
            f"| {label} | {name} | {statistics.median(times):.1f} | {p95(times):.1f} "
            f"| {max(times):.1f} | {verdict} |"
        )
    return lines


@contextmanager
def postgres_database(admin: str) -> Iterator[str]:
    name = f"synapse_bench_ui_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{admin.rsplit('/', 1)[0]}/{name}"
    finally:
        dispose_engines()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument(
        "--postgres",
        default=os.environ.get("SYNAPSE_TEST_POSTGRES_URL"),
        help="an admin URL of a PostgreSQL server (a fresh database is made)",
    )
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    print(f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory(prefix="bench-ui-") as folder:
        tmp = Path(folder)
        with redis_url(tmp) as redis:
            report = run("SQLite", f"sqlite:///{tmp / 'sqlite' / 'synapse.db'}", args.rows,
                         args.requests, tmp, redis)  # fmt: skip
            if args.postgres and not args.no_postgres:
                with postgres_database(args.postgres) as url:
                    pg = run("PostgreSQL", url,
                             args.rows, args.requests, tmp, redis)  # fmt: skip
                report += ["", *pg]
    print("\n".join(report))


if __name__ == "__main__":
    main()
