"""Package generation benchmark: `make bench-packages`.

Makes projects of 500 and 5,000 assets in a SQLite file (realistic properties: short values,
long descriptions that wrap, non-Latin text, formula-looking values) and runs `run_package` on
them: the full package (workbook and PDF), the PDF alone and the workbook alone. Beside them, the
references: reportlab drawing the same number of plain-text pages, and xlsxwriter writing
seven-column rows in constant-memory mode. Each case runs in a fresh process, so "peak MB" is
that process's peak resident memory (interpreter and libraries included).

Then packages across worker processes (bench/packages_workers.py): a 20,000-asset package made
by a real worker with 1 and 2 processes, with the peak memory of each process.
`--workers-only` runs just that part; `--no-workers` skips it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import Quiet

SIZES = (500, 5_000)
REPEAT = 3  # each case runs this often; the table shows the best time (the machine is shared)
TYPES = ("Motor", "Pump", "Transmitter", "Valve", "Switch", "Analyzer")
LONG = (
    "Mechanical seal flushed per API plan 53B; bearings greased for life; "
    "coupling guard in stainless steel; space heater 230 V wired to the junction box. "
)


def properties(i: int) -> dict[str, str]:
    props = {
        "area": f"A{i % 12}",
        "service": f"Cooling water circuit {i % 40}",
        "power_kw": str(i % 90 + 1),
        "voltage": "400 V",
        "manufacturer": ("ABB", "Siemens", "WEG", "Ölpumpe GmbH", "泵业")[i % 5],
        "p&id": f"PID-{i % 300:04d}",
        "description": LONG * (1 + i % 3),
    }
    if i % 10 == 0:
        props["note"] = '=HYPERLINK("http://example.invalid")'
    if i % 7 == 0:
        props["range"] = "-10..+10 bar"
    return props


def make_data(data_dir: Path) -> Any:
    from sqlalchemy import insert

    from synapse.config import Settings
    from synapse.db.engine import session_scope
    from synapse.db.migrate import upgrade
    from synapse.db.models import Asset, utcnow
    from synapse.projects import ensure_project

    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=data_dir,
        database_url=f"sqlite:///{data_dir / 'bench.db'}",
        redis_url="redis://127.0.0.1:1/0",  # never used: no job, no events
    )
    upgrade(settings)
    for size in SIZES:
        with session_scope(settings) as session:
            project = ensure_project(session, f"bench-{size}")
            now = utcnow()
            session.execute(
                insert(Asset),
                [
                    {
                        "project_id": project.id,
                        "tag": f"{TYPES[i % len(TYPES)][:2].upper()}-{i:05d}",
                        "type": TYPES[i % len(TYPES)],
                        "properties": properties(i),
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in range(size)
                ],
            )
    return settings


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def one_package(data_dir: Path, size: int, formats: list[str]) -> dict[str, Any]:
    from synapse.config import Settings
    from synapse.packages.options import package_job
    from synapse.packages.service import run_package

    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=data_dir,
        database_url=f"sqlite:///{data_dir / 'bench.db'}",
        redis_url="redis://127.0.0.1:1/0",
    )
    job = package_job(
        project_key=f"bench-{size}", package_type="full", options={"formats": formats}
    )
    started = time.perf_counter()
    result = run_package(settings, job, Quiet())
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "pages": result["pages"], "rows": result["rows"], "mb": peak_mb()}


def reference_pdf(pages: int) -> dict[str, Any]:
    """reportlab drawing `pages` plain-text pages (40 lines each) on a canvas."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen.canvas import Canvas

    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        canvas = Canvas(str(Path(folder) / "plain.pdf"), pagesize=A4, pageCompression=1)
        for page in range(pages):
            canvas.setFont("Helvetica", 9)
            for line in range(40):
                canvas.drawString(40, 800 - line * 18, f"page {page} line {line}: plain text")
            canvas.showPage()
        canvas.save()
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "pages": pages, "mb": peak_mb()}


def reference_xlsx(rows: int) -> dict[str, Any]:
    """xlsxwriter, constant-memory mode, `rows` rows of seven text cells."""
    import xlsxwriter

    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        book = xlsxwriter.Workbook(str(Path(folder) / "plain.xlsx"), {"constant_memory": True})
        sheet = book.add_worksheet()
        for row in range(rows):
            for col in range(7):
                sheet.write_string(row, col, f"value {row} {col}")
        book.close()
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": rows, "mb": peak_mb()}


def child(args: list[str]) -> dict[str, Any]:
    """The case in fresh processes, REPEAT times: the best time, the highest peak memory."""
    runs = []
    for _ in range(REPEAT):
        out = subprocess.run(
            [sys.executable, __file__, "--case", *args], capture_output=True, text=True
        )
        if out.returncode:
            raise SystemExit(f"case {args} failed:\n{out.stderr}")
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    best: dict[str, Any] = min(runs, key=lambda r: r["seconds"])
    best["mb"] = max(r["mb"] for r in runs)
    return best


def main() -> None:
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(
        f"SQLite, A4 pages; each case {REPEAT} times in fresh processes: best time, highest"
        " peak RSS\n"
    )
    with tempfile.TemporaryDirectory(prefix="bench-packages-") as folder:
        data = Path(folder)
        make_data(data)
        head = (
            f"{'assets':>7} | {'case':<24} | {'pages':>6} | {'rows':>7} | {'seconds':>7} |"
            f" {'pages/s':>8} | {'rows/s':>8} | {'peak MB':>7}"
        )
        print(head)
        print("-" * len(head))
        for size in SIZES:
            full = child(["package", str(data), str(size), "xlsx,pdf"])
            pdf = child(["package", str(data), str(size), "pdf"])
            xlsx = child(["package", str(data), str(size), "xlsx"])
            plain = child(["plain-pdf", str(pdf["pages"])])
            raw = child(["plain-xlsx", str(xlsx["rows"])])
            cases = [
                ("full package (xlsx+pdf)", full),
                ("PDF only", pdf),
                ("  reportlab plain text", plain),
                ("workbook only", xlsx),
                ("  xlsxwriter 7 columns", raw),
            ]
            for name, r in cases:
                pages, rows = r.get("pages") or 0, r.get("rows") or 0
                pps = f"{pages / r['seconds']:,.0f}" if pages and "xlsx" not in name else ""
                rps = f"{rows / r['seconds']:,.0f}" if rows and name not in ("PDF only",) else ""
                if name.startswith("full"):
                    pps = rps = ""
                print(
                    f"{size:>7,} | {name:<24} | {pages or '':>6} | {rows or '':>7} |"
                    f" {r['seconds']:>7.2f} | {pps:>8} | {rps:>8} | {r['mb']:>7.0f}"
                )
        print("\ntargets: 500-asset full package < 3 s; 5,000 assets with peak memory < 300 MB")


def workers() -> None:
    from packages_workers import workers_table  # beside this file

    workers_table(properties, TYPES)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--case", nargs="+")
    parser.add_argument("--workers-only", action="store_true")
    parser.add_argument("--no-workers", action="store_true")
    ns = parser.parse_args()
    if ns.case:
        kind, *rest = ns.case
        if kind == "package":
            res = one_package(Path(rest[0]), int(rest[1]), rest[2].split(","))
        elif kind == "plain-pdf":
            res = reference_pdf(int(rest[0]))
        else:
            res = reference_xlsx(int(rest[0]))
        print(json.dumps(res))
    else:
        if not ns.workers_only:
            main()
        if not ns.no_workers:
            workers()
