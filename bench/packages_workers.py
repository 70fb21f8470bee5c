"""Packages across worker processes: the part of `make bench-packages` with real workers.

A 20,000-asset `datasheets` package (workbook and PDF) made by a real Celery worker
(`synapse worker --concurrency N`) over Redis and a SQLite file, as a user's job is: submitted
with `submit_job`, timed from the job's start to its end as the database records them. Cases:
the old single-process path (SYNAPSE_PACKAGE_CHUNK_SIZE=0) on one process, then chunks of 500 on
1 and 2 worker processes. After each run, the peak resident memory (VmHWM) of every process of
the worker (main process and pool processes) is read from /proc before the worker stops.

Redis: SYNAPSE_BENCH_REDIS_URL or SYNAPSE_TEST_REDIS_URL, else a private redis-server.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

import psutil

from common import redis_server, wait

SIZE = 20_000
CASES = ((0, 1), (500, 1), (500, 2))  # (chunk size, worker processes)
ROUNDS = 2  # each case this often (the machine is shared): the best time, the highest peaks


def settings_for(work: Path, url: str, prefix: str) -> Any:
    from synapse.config import Settings

    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=work,
        database_url=f"sqlite:///{work / 'bench.db'}",
        redis_url=url,
        redis_prefix=prefix,
    )


def make_project(settings: Any, properties: Callable[[int], dict[str, str]], types: Any) -> None:
    from sqlalchemy import insert

    from synapse.db.engine import session_scope
    from synapse.db.migrate import upgrade
    from synapse.db.models import Asset, utcnow
    from synapse.projects import ensure_project

    upgrade(settings)
    with session_scope(settings) as session:
        project = ensure_project(session, "bench-workers")
        now = utcnow()
        for start in range(0, SIZE, 5_000):
            session.execute(
                insert(Asset),
                [
                    {
                        "project_id": project.id,
                        "tag": f"{types[i % len(types)][:2].upper()}-{i:05d}",
                        "type": types[i % len(types)],
                        "properties": properties(i),
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in range(start, min(SIZE, start + 5_000))
                ],
            )


def vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run_case(work: Path, url: str, chunk: int, processes: int) -> dict[str, Any]:
    from synapse.celery_app import create_celery
    from synapse.db.engine import session_scope
    from synapse.db.models import Job
    from synapse.jobs.service import submit_job

    prefix = f"bench-pkg-{uuid.uuid4().hex[:8]}"
    settings = settings_for(work, url, prefix)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNAPSE_")}
    env.update(
        SYNAPSE_DATA_DIR=str(work),
        DATABASE_URL=settings.database_url,
        REDIS_URL=url,
        SYNAPSE_REDIS_PREFIX=prefix,
        SYNAPSE_PACKAGE_CHUNK_SIZE=str(chunk),
        SYNAPSE_LOG_LEVEL="WARNING",
    )
    with (work / f"worker-{chunk}-{processes}.log").open("ab") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "synapse", "worker", "--concurrency", str(processes),
             "--name", f"{prefix}@%h"],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    celery = create_celery(settings)
    try:
        wait(lambda: celery.control.ping(timeout=0.5), 60, "the worker", interval=0.2)
        job = submit_job(
            settings=settings,
            celery=celery,
            task_name="generate_package",
            params={
                "project_id": "bench-workers",
                "package_type": "datasheets",
                "options": {"formats": ["xlsx", "pdf"]},
            },
            queue="bulk",
            project_key="bench-workers",
        )

        def finished() -> Any:
            with session_scope(settings) as session:
                row = session.get(Job, job.id)
                assert row is not None
                if row.state in ("SUCCESS", "FAILURE", "CANCELLED"):
                    return (row.state, row.started_at, row.finished_at, row.result, row.error)
            return None

        state, began, ended, result, error = wait(finished, 1800, "the package", interval=0.2)
        if state != "SUCCESS":
            raise SystemExit(f"package {state}: {error}")
        procs = [psutil.Process(worker.pid), *psutil.Process(worker.pid).children(recursive=True)]
        peaks = sorted((vm_hwm_mb(p.pid) for p in procs), reverse=True)
    finally:
        celery.close()
        with suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
    drawers = {c["drawn_by"] for c in result.get("chunks", [])}
    return {
        "chunk": chunk,
        "processes": processes,
        "seconds": (ended - began).total_seconds(),
        "pages": result["pages"],
        "rows": result["rows"],
        "chunks": len(result.get("chunks", [])),
        "drawers": len(drawers),
        "peaks": peaks,
        "phases": result.get("phase_seconds", {}),
        "drawing": sum(c["seconds"] for c in result.get("chunks", [])),
    }


def workers_table(properties: Callable[[int], dict[str, str]], types: Any) -> list[dict[str, Any]]:
    import tempfile

    print(f"\n{SIZE:,}-asset datasheets package (xlsx+pdf) made by a real worker, SQLite + Redis")
    print(
        f"each case {ROUNDS} times, a fresh worker each: the best of the job's recorded"
        " start-to-end times, the highest VmHWM of each worker process"
    )
    print(f"load average before: {', '.join(f'{x:.1f}' for x in os.getloadavg())}\n")
    head = (
        f"{'chunk':>6} | {'processes':>9} | {'pages':>6} | {'rows':>7} | {'chunks':>6} |"
        f" {'seconds':>7} | {'speed-up':>8} | peak MB of each process"
    )
    print(head)
    print("-" * len(head))
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-packages-workers-") as folder:
        work = Path(folder)
        with redis_server(work) as url:
            make_project(settings_for(work, url, "bench-pkg-setup"), properties, types)
            best: dict[tuple[int, int], dict[str, Any]] = {}
            for _ in range(ROUNDS):
                for case in CASES:
                    r = run_case(work, url, *case)
                    old = best.get(case)
                    if old is not None:
                        peaks = [max(a, b) for a, b in zip(old["peaks"], r["peaks"], strict=False)]
                        r = min(old, r, key=lambda x: x["seconds"])
                        r["peaks"] = peaks
                    best[case] = r
            base = None
            for chunk, processes in CASES:
                r = best[(chunk, processes)]
                if chunk and processes == 1:
                    base = r["seconds"]
                speed = f"{base / r['seconds']:.2f}x" if base and processes > 1 else ""
                peaks = ", ".join(f"{p:.0f}" for p in r["peaks"])
                print(
                    f"{chunk or 'off':>6} | {processes:>9} | {r['pages']:>6} | {r['rows']:>7} |"
                    f" {r['chunks'] or '':>6} | {r['seconds']:>7.1f} | {speed:>8} | {peaks}",
                    flush=True,
                )
                results.append(r)
    print("\nwhere the parent's time went (best run), seconds:")
    print("  chunk | processes | read+plan | workbook | PDF | of it: front, chunks+wait, merge")
    for r in results:
        p = r["phases"]
        split = ""
        if "pdf_front" in p:
            split = f"{p['pdf_front']:.1f}, {p['pdf_chunks']:.1f}, {p['pdf_merge']:.2f}"
            split += f"  (chunks drawn in {r['drawing']:.1f} s of process time in all)"
        read, book, pdf = (p.get(k, 0.0) for k in ("read_and_plan", "workbook", "pdf"))
        print(
            f"  {r['chunk'] or 'off':>5} | {r['processes']:>9} | {read:>9.1f} |"
            f" {book:>8.1f} | {pdf:>4.1f} | {split}"
        )
    print(f"load average after: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print("targets: 2 processes >= 1.6x one process; every process < 250 MB peak")
    return results
