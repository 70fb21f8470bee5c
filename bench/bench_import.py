"""`make bench-import`: the import with its change ledger, beside its references, in one run.

    make bench-import [ARGS='--rows 100000,1000000 --repeat 3 --repeat-large 2 | --quick']

For SQLite (a temporary folder) and PostgreSQL (a scratch database per measurement, created and
dropped here), for each row count:

1. CSV first import into an empty project with the ledger: the product's `run_import`; beside
   it the same call with the ledger's statements skipped (a patch in this script, not an option
   of the product), the figure recorded before the ledger existed (2026-11-28), and where the
   time goes (timers this script wraps around functions of `synapse.imports`);
2. the raw limits: SQLite, stdlib csv + one `executemany` into a table shaped like `assets`
   (its keys, unique index and foreign key) and into a plain table; PostgreSQL, `psql \\copy`
   into a copy of `assets` and into a table of text columns;
3. the re-import of the identical file as the product runs it: the fast path of
   `imports.identical` (nothing read again; the previous import's rows recorded as unchanged);
   beside it the same re-import with the fast path patched off (read, validated, staged and
   compared: nothing but the ledger is written);
4. an update: the same file with 10 % of the rows changed (one property each).

Then a 100,000-row x 8-column .xlsx workbook with a title block above its header, imported
(SQLite) beside our reader's raw read of the same file; the peak memory of a fresh process with
Celery and the task modules loaded (a worker's baseline) importing the largest file with its
ledger; the seconds from HTTP upload to SUCCESS of 5,000 rows through `synapse up`; and the
targets. Up to 100,000 rows each case runs `--repeat` times (interleaved) and the best counts;
above, the first import, its ledger-skipped twin and the re-imports run `--repeat-large` times.
`--quick` is a smoke run: 10,000 rows, once each.
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import drop_postgres, scratch_postgres
from import_cases import Sized, end_to_end, measure_size, measure_xlsx, peak_memory, rss_child
from import_data import CHANGE_EVERY, Database, generate
from import_timing import PHASES, LedgerCost, Run

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
# `make bench-import` of 2026-11-28, before the ledger (seconds of `synapse import`; the machine
# was loaded by other work then): "today's figure" of the issue.
BEFORE_LEDGER = {
    ("SQLite", 100_000): 2.26,
    ("SQLite", 1_000_000): 18.38,
    ("PostgreSQL", 100_000): 2.80,
    ("PostgreSQL", 1_000_000): 36.98,
}
TARGET_LEDGER = 0.25
TARGET_REIMPORT = 2.0
TARGET_XLSX = 0.6
TARGET_MB = 300


# -- the tables ---------------------------------------------------------------------------


def line(label: str, rows: int, seconds: float | None, note: str = "") -> str:
    if seconds is None:
        return f"  {label:<44} {rows:>10,}  {'-':>9}  {'-':>11}  {note}".rstrip()
    rate = f"{rows / seconds:,.0f}/s"
    return f"  {label:<44} {rows:>10,}  {seconds:>8.2f}s  {rate:>11}  {note}".rstrip()


def phase_table(cases: list[tuple[str, Run]]) -> None:
    widths = [max(len(p), 7) for p in PHASES]
    print(
        f"  {'where the time goes, s':<30} {'total':>7} {'CPU':>7}"
        + "".join(f" {p:>{w}}" for p, w in zip(PHASES, widths, strict=True))
        + f" {'ledger %':>8}"
    )
    for label, run in cases:
        phases = run.phases()
        share = phases["ledger"] / run.seconds
        print(
            f"  {label:<30} {run.seconds:>7.2f} {run.cpu:>7.2f}"
            + "".join(f" {phases[p]:>{w}.2f}" for p, w in zip(PHASES, widths, strict=True))
            + f" {share:>8.0%}"
        )


def print_size(db: Database, rows: int, m: Sized, rounds: int) -> None:
    first, skipped = m.first, m.skipped
    each = f"best of {rounds}"
    if rounds > 1 and rows > 100_000:
        each += " for the first import, ledger skipped and re-imports; the rest once"
    print(f"\n{db.name}, {rows:,} rows ({each}): rows/s, higher is better")
    print(f"  {'case':<44} {'rows':>10}  {'time':>9}  {'rate':>11}")
    print(line("1. first import, with the ledger", rows, first.seconds))
    print(
        line(
            "   same, ledger statements skipped (patch)",
            rows,
            skipped.seconds,
            LedgerCost.of(m.first, m.skipped).describe(),
        )
    )
    before = BEFORE_LEDGER.get((db.name, rows))
    if before:
        print(
            line(
                "   recorded 2026-11-28, before the ledger",
                rows,
                before,
                f"with the ledger now: {first.seconds / before - 1:+.0%}",
            )
        )
    if m.spec is not None:
        print(
            line(
                "   spec loop (pandas + ORM)",
                rows,
                m.spec,
                f"ours is {m.spec / first.seconds:.1f}x",
            )
        )
    if db.admin is None:
        labels = {
            "assets": "2. raw: csv + executemany, assets' shape",
            "plain": "   raw: csv + executemany, plain table",
        }
    else:
        labels = {
            "assets": "2. raw: psql \\copy into a copy of assets",
            "plain": "   raw: psql \\copy into a text table",
        }
    for kind, label in labels.items():
        raw = m.raws[kind]
        print(line(label, rows, raw, f"ours with the ledger: {raw / first.seconds:.2f}x of it"))
    print(
        line(
            "3. re-import, identical file (fast path)",
            rows,
            m.again.seconds,
            f"{first.seconds / m.again.seconds:.1f}x the first import's rate",
        )
    )
    print(
        line(
            "   same, normal path (fast path off: patch)",
            rows,
            m.again_slow.seconds,
            f"{first.seconds / m.again_slow.seconds:.1f}x the first import's rate",
        )
    )
    print(
        line(
            f"4. update, 1 row in {CHANGE_EVERY} changed",
            rows,
            m.update.seconds,
            f"{first.seconds / m.update.seconds:.1f}x the first import's rate",
        )
    )
    phase_table(
        [
            ("first import", first),
            ("first import, ledger skipped", skipped),
            ("re-import, fast path", m.again),
            ("re-import, normal path", m.again_slow),
            ("update, 10 % changed", m.update),
        ]
    )


def xlsx_section(db: Database, work: Path, rows: int, rounds: int) -> float:
    """5: the workbook imported and read raw (`measure_xlsx`); prints the table and returns
    the ratio of the best times."""
    measured = measure_xlsx(db, work, rows, rounds)
    run, read, chars = measured.imported, measured.read, measured.chars
    ratio = read.seconds / run.seconds
    print(
        f"\n5. .xlsx, {rows:,} rows x 8 columns, a title block above the header "
        f"({measured.book.stat().st_size / 1e6:.1f} MB; {db.name}; best of {rounds})"
    )
    note = f"{ratio:.2f}x of the raw read's rate (by CPU time: {read.cpu / run.cpu:.2f}x)"
    print(line("import (run_import, with the ledger)", rows, run.seconds, note))
    note = f"CPU {read.cpu:.2f}s; every cell touched ({chars:,} characters)"
    print(line("raw read: open_workbook(path).rows()", rows, read.seconds, note))
    phase_table([("import", run)])
    return ratio


def memory_section(dbs: list[Database], path: Path, rows: int) -> dict[str, float]:
    """6: peak memory of a fresh worker-like process importing `path`, per database."""
    print(
        f"\n6. peak memory of a fresh process (Celery and the task modules loaded, as a "
        f"worker) importing {rows:,} rows with the ledger into an empty project"
    )
    memory: dict[str, float] = {}
    for db in dbs:
        got = peak_memory(db, path)
        if got["created"] != rows:
            raise AssertionError(f"the import created {got['created']} assets, not {rows}")
        memory[db.name] = got["peak"]
        print(
            f"  {db.name:<12} peak {got['peak']:>5.0f} MB (VmHWM); after imports, before the "
            f"import: {got['baseline']:.0f} MB; the import took {got['seconds']:.1f}s",
            flush=True,
        )
    return memory


def machine() -> str:
    cpus = os.cpu_count()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{platform.system()} {platform.machine()}, {cpus} cores, {mem:.0f} GiB, "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}"
    )


def load() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", "--sizes", default="100000,1000000", help="CSV row counts")
    parser.add_argument("--xlsx-rows", type=int, default=100_000, help="rows of the workbook")
    parser.add_argument(
        "--repeat", type=int, default=3, help="rounds of each case up to 100,000 rows (best counts)"
    )
    parser.add_argument(
        "--repeat-large", type=int, default=2, help="rounds above 100,000 rows (see above)"
    )
    parser.add_argument(
        "--postgres",
        default=os.environ.get("DATABASE_URL") or DEFAULT_PG,
        help="a server's URL: scratch databases are created and dropped there",
    )
    parser.add_argument("--spec", action="store_true", help="the spec's loop too (<= 100k)")
    parser.add_argument("--skip-e2e", action="store_true", help="no upload through synapse up")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 10,000 rows, once")
    parser.add_argument("--rss-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        rss_child(*args.rss_child)
        return
    sizes = [10_000] if args.quick else [int(s) for s in args.rows.split(",")]
    xlsx_rows = 10_000 if args.quick else args.xlsx_rows
    repeat = 1 if args.quick else args.repeat
    repeat_large = 1 if args.quick else args.repeat_large

    print(
        f"import benchmark · {time.strftime('%Y-%m-%d')} · {machine()}; load average {load()}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="synapse-bench-") as tmp:
        work = Path(tmp)
        files: dict[int, dict[str, Path]] = {}
        for size in sizes:
            files[size] = {
                "first": work / f"assets-{size}.csv",
                "update": work / f"assets-{size}-changed.csv",
            }
            generate(files[size]["first"], size)
            generate(files[size]["update"], size, change_every=CHANGE_EVERY)
        warm_up = work / "warm-up.csv"
        generate(warm_up, 1000)
        admin = args.postgres.replace("postgresql+psycopg://", "postgresql://")
        dbs = [Database("SQLite", work, warm_up=warm_up)]
        try:
            drop_postgres(admin, scratch_postgres(admin))
            dbs.append(Database("PostgreSQL", work, admin, warm_up))
        except Exception as exc:
            print(f"PostgreSQL: not reachable ({exc}); skipped")
        results: dict[tuple[str, int], Sized] = {}
        for db in dbs:
            for size in sizes:
                rounds = repeat if size <= 100_000 else repeat_large
                results[db.name, size] = measure_size(db, size, files[size], rounds, args.spec)
                print_size(db, size, results[db.name, size], rounds)
                sys.stdout.flush()
        print(LEGEND)

        ratio = xlsx_section(dbs[0], work, xlsx_rows, repeat)
        biggest = max(sizes)
        memory = memory_section(dbs, files[biggest]["first"], biggest)

        if not args.skip_e2e:
            e2e_file = work / "e2e.csv"
            generate(e2e_file, 5000)
            times = end_to_end(work, e2e_file)
            print(
                f"\n5,000 rows, HTTP upload -> SUCCESS through synapse up: median "
                f"{statistics.median(times):.3f}s, min {min(times):.3f}s, max {max(times):.3f}s "
                f"({len(times)} uploads)"
            )

        targets(results, ratio, memory, biggest)
    print(f"\nload average at the end: {load()}")


LEGEND = """
What the columns mean:
- "first import": run_import (upsert, as the API runs it) of the CSV into an empty project of a
  fresh database; it writes the assets and their 'created' ledger rows (asset_changes), a
  thousand assets to a row as [[row, tag], ...], and the import's 'source' row.
- "ledger statements skipped": the same call with the statements that write asset_changes not
  executed (a patch in this script; the product always writes its ledger): the import without
  its ledger, measured in this run (until 2026-12-01 the patch ran a count(*) of each skipped
  INSERT ... SELECT in its place, which the import then needed; now nothing runs in its
  place). The ledger's cost over it, three ways: "apply phases compared" (the verdict) takes
  the difference of the two imports' compare + ledger + write + commit, so it counts the
  ledger statements and what they cost the other statements and the commit, but not the noise
  of reading the same file twice (reading, validating and staging are the same work in both);
  "whole imports" compares the two total times (noisier: two full runs on a shared machine);
  "its statements alone" is the ledger statements' time over the rest of the same import
  (leaves out their share of the commit).
- "recorded 2026-11-28": `synapse import` in that day's bench-import, before the ledger existed
  (docs/benchmarks.md; another load on the machine, so compare with care).
- "raw": the floor, measured here on the same rows.
- "re-import, fast path": the same file again into the same project, as the product runs it:
  the file is hashed and found identical to the project's last applied import, with no asset
  changed since (imports.identical), so it is not read again: the previous import's rows are
  recorded as 'unchanged'. Its check and record count as "compare" below.
- "re-import, normal path": the same, with that fast path patched off (a patch in this script):
  read, validated, staged and compared; every row unchanged, no asset written, only the
  ledger's 'unchanged' record.
- "update": then the file with the power of every 10th row changed (the assets of 10 % of the
  rows rewritten).
- "where the time goes": timers around functions of synapse.imports, seconds of wall time.
  CPU: this process's CPU seconds (a PostgreSQL server's are not in it).
  read+validate: everything before staging and comparing (sniffing, CSV or XLSX parsing, the
  checks, each row's JSON, the project and mapping rows); stage: rows into the temporary
  staging table (PostgreSQL: the client side of the COPY stream, its end and ANALYZE);
  compare: apply_import's own SQL and Python (changed rows found and diffed field by field);
  ledger: the INSERTs into asset_changes (on a re-import, the one that also finds the
  unchanged rows); write: INSERT/UPDATE of assets; commit: the commit; ledger %: ledger/total.
"""


def targets(
    results: dict[tuple[str, int], Sized],
    xlsx_ratio: float,
    memory: dict[str, float],
    biggest: int,
) -> None:
    print("\ntargets")
    for (name, rows), m in results.items():
        cost = LedgerCost.of(m.first, m.skipped)
        print(
            f"  ledger costs <= {TARGET_LEDGER:.0%}, {name} {rows:,}: {cost.apply:+.0%} "
            f"(whole imports {cost.whole:+.0%}, statements alone {cost.statements:+.0%}): "
            f"{met(cost.apply <= TARGET_LEDGER)}"
        )
    for (name, rows), m in results.items():
        ratio = m.first.seconds / m.again.seconds
        slow = m.first.seconds / m.again_slow.seconds
        print(
            f"  re-import >= {TARGET_REIMPORT:.0f}x faster than the first import, {name} "
            f"{rows:,}: {ratio:.1f}x (fast path; the normal path: {slow:.1f}x): "
            f"{met(ratio >= TARGET_REIMPORT)}"
        )
    print(
        f"  .xlsx import >= {TARGET_XLSX}x of the reader's raw read: {xlsx_ratio:.2f}x: "
        f"{met(xlsx_ratio >= TARGET_XLSX)}"
    )
    for name, peak in memory.items():
        print(
            f"  peak memory of a {biggest:,}-row import < {TARGET_MB} MB, {name}: "
            f"{peak:.0f} MB: {met(peak < TARGET_MB)}"
        )


if __name__ == "__main__":
    main()
