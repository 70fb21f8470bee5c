"""The measured cases: per row count and database the first import, its ledger-skipped twin,
the re-import, the update and the raw references (interleaved rounds, the best counts); the
.xlsx workbook beside the raw read; the peak memory of a fresh worker-like process (the child
runs `bench_import.py --rss-child`); the upload through `synapse up`, end to end."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from common import Quiet, free_port
from import_data import CHANGE_EVERY, Database, count_assets, generate_xlsx
from import_references import (
    raw_postgres_assets,
    raw_postgres_text,
    raw_sqlite_assets,
    raw_sqlite_plain,
    read_xlsx,
    spec_loop,
)
from import_timing import Run, best, expect, import_file
from synapse.config import Settings
from synapse.imports.service import ImportRequest, run_import

ENTRY = Path(__file__).with_name("bench_import.py")  # the script the memory child runs


# -- one row count ------------------------------------------------------------------------


@dataclass
class Sized:
    """What one row count measured on one database (the best of its rounds)."""

    first: Run
    again: Run  # the identical re-import as the product runs it: the fast path
    again_slow: Run  # the same with the fast path patched off: read, staged and compared
    update: Run
    skipped: Run
    raws: dict[str, float]
    spec: float | None = None


def measure_size(db: Database, rows: int, files: dict[str, Path], rounds: int, spec: bool) -> Sized:
    """`rounds` rounds, interleaved: with the ledger (first, again, update), ledger skipped,
    raw references; each group in a fresh database. Above 100,000 rows the update and the raw
    references run in the first round only (they are not compared with each other)."""
    runs: dict[str, list[Run]] = defaultdict(list)
    raws: dict[str, list[float]] = defaultdict(list)
    changed = len(range(0, rows, CHANGE_EVERY))
    spec_s = None

    def with_ledger(i: int) -> None:
        with db.fresh(f"{rows}-{i}-ledger") as settings:
            key = "bench"
            first = import_file(settings, files["first"], key, rows)
            runs["first"].append(expect(first, False, created=rows, updated=0, unchanged=0))
            again = import_file(settings, files["first"], key, rows)
            runs["again"].append(expect(again, True, created=0, updated=0, unchanged=rows))
            slow = import_file(settings, files["first"], key, rows, fast_path=False)
            runs["again_slow"].append(expect(slow, False, created=0, updated=0, unchanged=rows))
            if not every_case(i):  # first import and re-imports only
                return
            update = import_file(settings, files["update"], key, rows)
            runs["update"].append(
                expect(update, created=0, updated=changed, unchanged=rows - changed)
            )

    def ledger_skipped(i: int) -> None:
        with db.fresh(f"{rows}-{i}-skip") as settings:
            skipped = import_file(settings, files["first"], "bench", rows, skip_ledger=True)
            if count_assets(settings, "bench") != rows:
                raise AssertionError("the import with the ledger skipped did not write the rows")
            runs["skipped"].append(skipped)

    def every_case(i: int) -> bool:
        return i == 0 or rows <= 100_000

    for i in range(rounds):
        # Alternate which of the two comes first, so neither always runs on a cooler machine.
        for case in (with_ledger, ledger_skipped) if i % 2 == 0 else (ledger_skipped, with_ledger):
            case(i)
        if not every_case(i):
            continue
        with db.fresh(f"{rows}-{i}-raw") as settings:
            if db.admin is None:
                raws["assets"].append(raw_sqlite_assets(settings, files["first"]))
                raws["plain"].append(raw_sqlite_plain(db.work / f"plain-{i}", files["first"]))
                shutil.rmtree(db.work / f"plain-{i}")
            else:
                url = settings.database_url or ""
                raws["assets"].append(raw_postgres_assets(settings, url, files["first"]))
                raws["plain"].append(raw_postgres_text(url, files["first"]))
            if spec and i == 0 and rows <= 100_000:
                spec_s = spec_loop(settings, files["first"])
    return Sized(
        first=best(runs["first"]),
        again=best(runs["again"]),
        again_slow=best(runs["again_slow"]),
        update=best(runs["update"]),
        skipped=best(runs["skipped"]),
        raws={k: min(v) for k, v in raws.items()},
        spec=spec_s,
    )


# -- the workbook -------------------------------------------------------------------------


@dataclass
class Workbook:
    """What the .xlsx case measured (the best of its rounds)."""

    book: Path
    imported: Run  # run_import, with the ledger
    read: Run  # our reader's raw read
    chars: int  # characters the raw read touched


def measure_xlsx(db: Database, work: Path, rows: int, rounds: int) -> Workbook:
    """The workbook imported (a fresh database each time) and read raw by our reader,
    interleaved."""
    book = work / f"assets-{rows}.xlsx"
    generate_xlsx(book, rows)
    imports, reads = [], []
    chars = 0
    for i in range(rounds):
        with db.fresh(f"xlsx-{i}") as settings:
            imports.append(expect(import_file(settings, book, "xlsx", rows), created=rows))
        started, cpu = time.perf_counter(), time.process_time()
        got, chars = read_xlsx(book)
        reads.append(Run(time.perf_counter() - started, rows, time.process_time() - cpu))
        if got != rows + 3:
            raise AssertionError(f"the reader gave {got} rows, not {rows + 3}")
    return Workbook(book, best(imports), best(reads), chars)


# -- peak memory --------------------------------------------------------------------------


def _status(field_name: str) -> float:
    """A line of /proc/self/status in MB (VmRSS: now; VmHWM: the process's peak)."""
    with open("/proc/self/status") as fh:
        line = next(x for x in fh if x.startswith(field_name + ":"))
    return int(line.split()[1]) / 1024


def rss_child(data_dir: str, url: str, path: str) -> None:
    """In a fresh process: load what a worker loads, then import the file with its ledger."""
    import synapse.celery_app as celery_app

    for module in celery_app.TASK_MODULES:
        importlib.import_module(module)
    settings = Settings(_env_file=None, data_dir=Path(data_dir), database_url=url or None)  # type: ignore[call-arg]
    baseline = _status("VmRSS")
    request = ImportRequest(project_key="rss", path=Path(path), job_id=str(uuid.uuid4()))
    started = time.perf_counter()
    result = run_import(settings, request, Quiet())
    seconds = time.perf_counter() - started
    peak = _status("VmHWM")
    print(
        json.dumps(
            {
                "baseline": baseline,
                "peak": peak,
                "seconds": seconds,
                "created": result["created_count"],
            }
        )
    )


def peak_memory(db: Database, path: Path) -> dict[str, float]:
    """Peak resident memory (VmHWM, read by the child itself: a fork of this large process
    would otherwise count in its maximum RSS) of a fresh process importing `path`."""
    with db.fresh("rss") as settings:
        url = settings.database_url or ""
        out = subprocess.run(
            [sys.executable, str(ENTRY), "--rss-child", str(settings.data_dir), url, str(path)],
            check=True,
            capture_output=True,
            text=True,
        )
    got: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return got


# -- end to end ---------------------------------------------------------------------------


def end_to_end(work: Path, path: Path, uploads: int = 5) -> list[float]:
    """Seconds from POST upload-csv to job-status SUCCESS, through `synapse up` (embedded)."""
    import httpx

    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SYNAPSE_") and k not in ("DATABASE_URL", "REDIS_URL")
    }
    env.update(SYNAPSE_DATA_DIR=str(work / "e2e"), SYNAPSE_PORT=str(port))
    up = subprocess.Popen(
        [sys.executable, "-m", "synapse", "up"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
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
                job = client.post(
                    "/api/v1/ingestion/upload-csv",
                    files={"file": ("a.csv", data)},
                    data={"project_id": f"e2e-{i}"},
                ).json()["job_id"]
                while client.get(f"/api/v1/ingestion/job-status/{job}").json()["status"] not in (
                    "SUCCESS",
                    "FAILURE",
                ):
                    time.sleep(0.005)
                if i:  # the first one warms the worker up
                    times.append(time.perf_counter() - started)
        return times
    finally:
        up.send_signal(signal.SIGTERM)
        up.wait(timeout=60)
