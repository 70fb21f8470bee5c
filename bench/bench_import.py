"""`make bench-import`: rows/s of the CSV import beside the spec's loop and the raw limit.

One run prints, for each size, on SQLite and (when reachable) PostgreSQL: the product's
`run_import` (no Celery), the specification's pandas + ORM loop and the raw limit (SQLite:
csv + one executemany; PostgreSQL: `psql \\copy`), with the ratios and the targets; then the peak
memory of a fresh process importing the largest file, and the seconds from HTTP upload to
SUCCESS for 5,000 rows through a real `synapse up` (embedded Redis, SQLite).
"""

from __future__ import annotations

import argparse
import multiprocessing
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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import importbench as ib

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
SMALL = 20_000  # files up to this size are measured 3 times (best kept): the machine is shared
E2E_ROWS, E2E_UPLOADS = 5_000, 5
TARGETS = {  # key: (as in the summary, as beside the figure)
    "rate": ("core import >= 50,000 rows/s on SQLite", "target >= 50,000/s"),
    "spec": ("core import >= 10x the spec loop", "target >= 10x"),
    "copy": ("core import >= 0.5x psql \\copy on PostgreSQL", "target >= 0.5x"),
    "e2e": (f"{E2E_ROWS:,} rows upload -> SUCCESS < 0.5 s", "target < 0.5 s"),
    "mem": ("peak worker memory < 300 MB (largest file)", "target < 300 MB"),
}


@dataclass
class Targets:
    """Per target, every measured case: met or not, and the figure."""

    cases: dict[str, list[tuple[str, bool, str]]] = field(default_factory=dict)

    def check(self, key: str, case: str, met: bool, figure: str) -> str:
        self.cases.setdefault(key, []).append((case, met, figure))
        return f"{TARGETS[key][1]}: {'met' if met else 'NOT met'}"

    def summary(self) -> list[str]:
        lines = []
        for key, cases in self.cases.items():
            missed = [case for case, met, _ in cases if not met]
            verdict = "met" if not missed else "NOT met"
            if missed and len(missed) < len(cases):
                verdict = "NOT met at " + ", ".join(missed)
            figures = "; ".join(f"{case}: {figure}" for case, _, figure in cases)
            lines.append(f"  {TARGETS[key][0]:<46} {verdict}\n      ({figures})")
        return lines


def timed(run: Callable[[], float], rows: int) -> float:
    return min(run() for _ in range(3 if rows <= SMALL else 1))


def line(label: str, rows: int, seconds: float | None, ratio: str = "", note: str = "") -> str:
    if seconds is None:
        return f"  {label:<34}{rows:>11,}  {'-':>8}  {'-':>10}  {ratio:>9}  {note}"
    rate = rows / seconds
    return f"  {label:<34}{rows:>11,}  {seconds:>8.2f}  {rate:>10,.0f}  {ratio:>9}  {note}".rstrip()


def ours_on(work: Path, pg: str | None, path: Path) -> float:
    with ib.fresh_database(work, pg) as settings:
        return ib.ours(settings, path)


def spec_on(work: Path, pg: str | None, path: Path) -> float:
    with ib.fresh_database(work, pg) as settings:
        return ib.spec_loop(settings, path)


def size_block(
    db: str,
    pg: str | None,
    rows: int,
    path: Path,
    work: Path,
    args: argparse.Namespace,
    targets: Targets,
) -> list[str]:
    case = f"{db} {rows:,}"
    mine = timed(lambda: ours_on(work, pg, path), rows)
    note = ""
    if pg is None:
        note = targets.check("rate", case, rows / mine >= 50_000, f"{rows / mine:,.0f}/s")
    out = [line("synapse import (run_import)", rows, mine, "", note)]
    if rows >= 1_000_000 and not args.spec_1m:
        out.append(line("spec loop (pandas + ORM)", rows, None, "", "skipped (use --spec-1m)"))
    else:
        spec = timed(lambda: spec_on(work, pg, path), rows)
        note = targets.check("spec", case, spec / mine >= 10, f"{spec / mine:.1f}x")
        out.append(line("spec loop (pandas + ORM)", rows, spec, f"{spec / mine:.1f}x", note))
    if pg is None:
        raw = timed(lambda: ib.raw_sqlite(work, path), rows)
        out.append(line("raw: csv + executemany", rows, raw, f"{raw / mine:.2f}x"))
        return out
    raw = timed(lambda: ib.raw_psql_text(pg, path), rows)
    note = targets.check("copy", case, raw / mine >= 0.5, f"{raw / mine:.2f}x")
    out.append(line("raw: psql \\copy, 9 text columns", rows, raw, f"{raw / mine:.2f}x", note))
    shaped = timed(lambda: ib.raw_psql_assets(pg, path), rows)
    out.append(line("raw: psql \\copy, assets-shaped", rows, shaped, f"{shaped / mine:.2f}x"))
    return out


def table(
    db: str,
    pg: str | None,
    files: dict[int, Path],
    work: Path,
    args: argparse.Namespace,
    targets: Targets,
) -> None:
    print(f"\n{db}  (time in s; rate in rows/s; 'ours/it' = our rate / its rate)", flush=True)
    print(f"  {'':<34}{'rows':>11}  {'time':>8}  {'rate':>10}  {'ours/it':>9}")
    for rows, path in files.items():
        for text in size_block(db, pg, rows, path, work, args, targets):
            print(text, flush=True)


def peak_memory(work: Path, path: Path, rows: int, targets: Targets) -> None:
    """The import in a fresh (spawned) process; its own peak resident memory (VmHWM)."""
    ctx = multiprocessing.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=ib.rss_child, args=(str(work / "rss"), str(path), send))
    child.start()
    send.close()
    try:
        baseline, peak, seconds = receive.recv()
    finally:
        child.join(timeout=60)
        if child.is_alive():  # ours, by its handle
            child.terminate()
            child.join()
    note = targets.check("mem", f"{rows:,} rows", peak < 300, f"{peak:.0f} MB")
    print(
        f"\npeak memory, {rows:,}-row import (SQLite) in a fresh process with Celery loaded: "
        f"{peak:.0f} MB (baseline before the import {baseline:.0f} MB; import {seconds:.1f} s)"
        f"  {note}"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_up(work: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    """`synapse up` on a free port: embedded Redis and SQLite in a new data folder."""
    port, logfile = free_port(), work / "synapse-up.log"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SYNAPSE_") and k not in ("DATABASE_URL", "REDIS_URL")
    }
    env.update(SYNAPSE_DATA_DIR=str(work / "e2e"), SYNAPSE_PORT=str(port))
    exe = Path(sys.executable).with_name("synapse")
    argv = [str(exe), "up"] if exe.exists() else [sys.executable, "-m", "synapse", "up"]
    with logfile.open("wb") as log:  # cwd: the temp folder, so no .env is read
        up = subprocess.Popen(
            argv, env=env, cwd=work, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    return up, f"http://127.0.0.1:{port}", logfile


def wait_ready(up: subprocess.Popen[bytes], base: str, logfile: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and up.poll() is None:
        try:
            if httpx.get(f"{base}/readyz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    tail = logfile.read_text(errors="replace")[-2000:]
    raise RuntimeError(f"synapse up did not become ready within {timeout:.0f} s:\n{tail}")


def upload_to_success(client: httpx.Client, data: bytes) -> float:
    started = time.perf_counter()
    reply = client.post(
        "/api/v1/ingestion/upload-csv",
        files={"file": ("assets.csv", data)},
        data={"project_id": f"e2e-{uuid.uuid4().hex[:8]}"},
    )
    reply.raise_for_status()
    job = reply.json()["job_id"]
    while True:
        status = client.get(f"/api/v1/ingestion/job-status/{job}").json()
        if status["status"] in ("SUCCESS", "FAILURE", "CANCELLED"):
            break
        time.sleep(0.005)
    elapsed = time.perf_counter() - started
    if status["status"] != "SUCCESS":
        raise RuntimeError(f"upload ended {status['status']}: {status.get('error')}")
    return elapsed


def stop_up(up: subprocess.Popen[bytes]) -> None:
    if up.poll() is None:
        up.send_signal(signal.SIGTERM)
    try:
        up.wait(timeout=60)
    except subprocess.TimeoutExpired:  # never leave it behind: its group, started by us
        os.killpg(up.pid, signal.SIGKILL)
        up.wait()


def end_to_end(work: Path, path: Path, targets: Targets) -> None:
    up, base, logfile = start_up(work)
    try:
        wait_ready(up, base, logfile)
        data = path.read_bytes()
        with httpx.Client(base_url=base, timeout=30) as client:
            cold = upload_to_success(client, data)
            times = [upload_to_success(client, data) for _ in range(E2E_UPLOADS)]
    finally:
        stop_up(up)
    median = statistics.median(times)
    note = targets.check("e2e", "median", median < 0.5, f"{median:.3f} s")
    print(
        f"\n{E2E_ROWS:,} rows, HTTP upload -> job-status SUCCESS through synapse up "
        f"(embedded Redis + SQLite), {E2E_UPLOADS} uploads to new projects after 1 warm-up:\n"
        f"  median {median:.3f} s, min {min(times):.3f} s, max {max(times):.3f} s "
        f"(warm-up {cold:.3f} s)  {note}"
    )


def machine(pg_version: str | None) -> str:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, {mem:.0f} GiB; "
        f"Python {platform.python_version()}; SQLite {sqlite3.sqlite_version}; "
        f"PostgreSQL {pg_version or '-'}; load average {load}"
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="5000,100000,1000000", help="rows, comma-separated")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("DATABASE_URL") or DEFAULT_PG,
        metavar="URL",
        help="server for the scratch database",
    )
    parser.add_argument("--spec-1m", action="store_true", help="run the spec loop at 1M rows too")
    parser.add_argument("--skip-e2e", action="store_true", help="no synapse up / HTTP part")
    parser.add_argument("--quick", action="store_true", help="sizes 5000,20000 (a smoke run)")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    sizes = [5000, 20000] if args.quick else sorted({int(s) for s in args.sizes.split(",")})
    targets = Targets()
    with tempfile.TemporaryDirectory(prefix="synapse-bench-") as tmp:
        work = Path(tmp)
        admin = args.postgres if args.postgres.startswith("postgres") else None
        pg = ib.create_scratch_db(admin) if admin else None
        try:
            print(f"import benchmark, {time.strftime('%Y-%m-%d %H:%M')}")
            print(machine(ib.server_version(pg) if pg else None))
            files = {n: work / f"assets-{n}.csv" for n in sizes}
            for n, path in files.items():
                ib.generate(path, n)
            table("SQLite", None, files, work, args, targets)
            if pg and admin:
                table("PostgreSQL", pg, files, work, args, targets)
            else:
                print("\nPostgreSQL: not reachable, skipped")
        finally:
            if pg and admin:
                ib.drop_scratch_db(admin, pg)
        peak_memory(work, files[sizes[-1]], sizes[-1], targets)
        if not args.skip_e2e:
            e2e = files.get(E2E_ROWS) or work / "e2e.csv"
            if not e2e.exists():
                ib.generate(e2e, E2E_ROWS)
            end_to_end(work, e2e, targets)
    print("\ntargets")
    print("\n".join(targets.summary()))


if __name__ == "__main__":
    main()
