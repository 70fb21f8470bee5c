"""`make bench-import`: rows/s of the CSV import beside the spec's loop and the raw limit.

Prints one table for SQLite and, when reachable, PostgreSQL; the peak memory of a process
importing 1,000,000 rows; and the seconds from HTTP upload to SUCCESS for 5,000 rows through
a real `synapse up`.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).parent))
from importbench import (
    generate,
    ours,
    peak_rss_mb_of_import,
    project_id,
    raw_postgres,
    raw_postgres_assets,
    raw_sqlite,
    reset,
    settings_for,
    spec_loop,
)

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"


def scratch_postgres(admin: str) -> str | None:
    name = f"synapse_bench_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        print(f"PostgreSQL: not reachable ({exc}); skipped")
        return None
    return f"{admin.rsplit('/', 1)[0]}/{name}"


def drop_postgres(admin: str, url: str) -> None:
    reset()
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def row(label: str, rows: int, seconds: float | None, note: str = "") -> str:
    if seconds is None:
        return f"  {label:<28} {rows:>10,}  {'-':>10}  {'-':>12}  {note}"
    return f"  {label:<28} {rows:>10,}  {seconds:>9.2f}s  {rows / seconds:>10,.0f}/s  {note}"


def table(db: str, url: str | None, files: dict[int, Path], work: Path, spec_1m: bool) -> None:
    print(f"\n{db}: rows/s (higher is better)")
    print(f"  {'':<28} {'rows':>10}  {'time':>10}  {'rate':>12}")
    for size, path in files.items():
        settings = settings_for(work / f"{db}-{size}", url)
        mine = ours(settings, path)
        print(row("synapse import", size, mine))
        if size >= 1_000_000 and not spec_1m:
            print(row("spec loop (pandas + ORM)", size, None, "skipped (use --spec-1m)"))
        else:
            spec = spec_loop(settings, path)
            print(row("spec loop (pandas + ORM)", size, spec, f"ours is {spec / mine:.1f}x"))
        if url is None:
            raw = raw_sqlite(work, path)
            print(row("raw: csv + executemany", size, raw, f"ours is {raw / mine:.2f}x of it"))
        else:
            raw = raw_postgres_assets(url, path, project_id(settings))
            print(
                row("raw: psql \\copy into assets", size, raw, f"ours is {raw / mine:.2f}x of it")
            )
            raw = raw_postgres(url, path)
            print(
                row("raw: psql \\copy, text table", size, raw, f"ours is {raw / mine:.2f}x of it")
            )
        reset()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def end_to_end(work: Path, path: Path, uploads: int = 5) -> list[float]:
    """Seconds from POST upload-csv to job-status SUCCESS, through `synapse up` (embedded)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("SYNAPSE_") and k not in ("DATABASE_URL", "REDIS_URL")}  # fmt: skip
    env.update(SYNAPSE_DATA_DIR=str(work / "e2e"), SYNAPSE_PORT=str(port))
    up = subprocess.Popen([sys.executable, "-m", "synapse", "up"], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or up.poll() is not None:
                raise RuntimeError("synapse up did not become ready")
            time.sleep(0.2)
        data = path.read_bytes()
        times = []
        with httpx.Client(base_url=base, timeout=30) as client:
            for i in range(uploads + 1):
                started = time.perf_counter()
                job = client.post("/api/v1/ingestion/upload-csv", files={"file": ("a.csv", data)},
                                  data={"project_id": f"e2e-{i}"}).json()["job_id"]  # fmt: skip
                while client.get(f"/api/v1/ingestion/job-status/{job}").json()["status"] not in (
                    "SUCCESS", "FAILURE"):  # fmt: skip
                    time.sleep(0.005)
                if i:  # the first one warms the worker up
                    times.append(time.perf_counter() - started)
        return times
    finally:
        up.send_signal(signal.SIGTERM)
        up.wait(timeout=60)


def machine() -> str:
    cpus = os.cpu_count()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{platform.system()} {platform.machine()}, {cpus} cores, {mem:.0f} GiB, "
            f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="5000,100000,1000000")
    parser.add_argument("--postgres", default=os.environ.get("DATABASE_URL") or DEFAULT_PG)
    parser.add_argument("--spec-1m", action="store_true")
    parser.add_argument("--skip-e2e", action="store_true")
    parser.add_argument("--quick", action="store_true", help="5,000 and 20,000 rows")
    args = parser.parse_args()
    sizes = [5000, 20000] if args.quick else [int(s) for s in args.sizes.split(",")]

    print(f"import benchmark · {time.strftime('%Y-%m-%d')} · {machine()}")
    with tempfile.TemporaryDirectory(prefix="synapse-bench-") as tmp:
        work = Path(tmp)
        files = {}
        for size in sizes:
            files[size] = work / f"assets-{size}.csv"
            generate(files[size], size)
        table("SQLite", None, files, work, args.spec_1m)
        admin = args.postgres.replace("postgresql+psycopg://", "postgresql://")
        pg = scratch_postgres(admin)
        if pg:
            try:
                table("PostgreSQL", pg, files, work, args.spec_1m)
            finally:
                drop_postgres(admin, pg)
        biggest = max(sizes)
        rss = peak_rss_mb_of_import(work / "rss", None, files[biggest])
        print(f"\npeak memory of a process importing {biggest:,} rows (SQLite): {rss:.0f} MB")
        if not args.skip_e2e:
            e2e_file = files.get(5000) or work / "e2e.csv"
            if not e2e_file.exists():
                generate(e2e_file, 5000)
            times = end_to_end(work, e2e_file)
            print(f"5,000 rows, HTTP upload -> SUCCESS through synapse up: median "
                  f"{statistics.median(times):.3f}s, min {min(times):.3f}s, max {max(times):.3f}s "
                  f"({len(times)} uploads)")  # fmt: skip


if __name__ == "__main__":
    main()
