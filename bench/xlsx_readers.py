"""Which reader for Excel workbooks: the same sheets read by each, in a process of its own.

    .venv/bin/python bench/xlsx_readers.py [--rows 20000,100000]

Workbooks of N rows x 8 columns (unique tag text, repeated type text, float, text, date, boolean,
percent, integer) are written with xlsxwriter into a temporary folder. Each reader then runs in
a fresh interpreter (so peak RSS is its own) and reads every row of the sheet, three times:
the best CPU time counts (the machine may be busy with other work), and the highest RSS.

- synapse: `synapse.imports.xlsx` (expat over the zip entry), cells as display text;
- etree iterparse: the same streaming idea with ElementTree.iterparse, raw values only;
- openpyxl read-only: `load_workbook(read_only=True, data_only=True)`, values only;
- python-calamine: `get_sheet_by_index` (the Rust side loads the whole sheet), `iter_rows`;
- fastexcel: `load_sheet` only (the whole sheet into Rust memory; rows need pyarrow).

A reader that is not installed is listed as such. Peak RSS is the process's maximum resident
size; "growth" is that minus the size after imports, before the workbook is opened.
"""

from __future__ import annotations

import argparse
import datetime
import json
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

READERS = ("synapse", "etree iterparse", "openpyxl read-only", "python-calamine", "fastexcel")
TYPES = ("Motor", "Pump", "Transmitter", "Valve")
COLUMNS = 8


def make_workbook(path: Path, rows: int) -> None:
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path))  # shared strings, as Excel writes them
    sheet = book.add_worksheet("Assets")
    date = book.add_format({"num_format": "yyyy-mm-dd"})
    percent = book.add_format({"num_format": "0%"})
    header = ["Tag", "Type", "Power [kW]", "Range", "Installed", "Active", "Load", "Count"]
    sheet.write_row(0, 0, header)
    start = datetime.date(2020, 1, 1)
    for i in range(1, rows + 1):
        sheet.write_string(i, 0, f"P-{i:06d}")
        sheet.write_string(i, 1, TYPES[i % 4])
        sheet.write_number(i, 2, i % 90 + 0.5)
        sheet.write_string(i, 3, "4–20 mA")
        sheet.write_datetime(i, 4, start + datetime.timedelta(days=i % 2000), date)
        sheet.write_boolean(i, 5, i % 3 == 0)
        sheet.write_number(i, 6, (i % 100) / 100, percent)
        sheet.write_number(i, 7, i)
    book.close()


def read_synapse(path: Path) -> Iterator[Any]:
    from synapse.imports.xlsx import open_workbook

    with open_workbook(path) as table:
        yield from table.rows()


def read_etree(path: Path) -> Iterator[Any]:
    from xml.etree.ElementTree import iterparse

    ns = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    with zipfile.ZipFile(path) as zf:
        with zf.open("xl/sharedStrings.xml") as fh:
            strings = ["".join(si.itertext()) for _e, si in iterparse(fh) if si.tag == ns + "si"]
        with zf.open("xl/worksheets/sheet1.xml") as fh:
            for _event, elem in iterparse(fh):
                if elem.tag == ns + "row":
                    cells = []
                    for c in elem.iter(ns + "c"):
                        v = c.findtext(ns + "v") or ""
                        cells.append(strings[int(v)] if c.get("t") == "s" else v)
                    elem.clear()
                    yield cells


def read_openpyxl(path: Path) -> Iterator[Any]:
    import openpyxl

    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        yield from book.worksheets[0].iter_rows(values_only=True)
    finally:
        book.close()


def read_calamine(path: Path) -> Iterator[Any]:
    from python_calamine import CalamineWorkbook  # type: ignore[import-not-found,unused-ignore]

    book = CalamineWorkbook.from_path(str(path))
    yield from book.get_sheet_by_index(0).iter_rows()


def read_fastexcel(path: Path) -> Iterator[Any]:
    import fastexcel  # type: ignore[import-not-found,unused-ignore]

    sheet = fastexcel.read_excel(str(path)).load_sheet(0, header_row=None)
    yield from range(sheet.height)  # rows counted, not converted


RUNNERS: dict[str, Callable[[Path], Iterator[Any]]] = {
    "synapse": read_synapse,
    "etree iterparse": read_etree,
    "openpyxl read-only": read_openpyxl,
    "python-calamine": read_calamine,
    "fastexcel": read_fastexcel,
}
MODULES = {"openpyxl read-only": "openpyxl", "python-calamine": "python_calamine",
           "fastexcel": "fastexcel"}  # fmt: skip


def rss_mb() -> float:
    """Peak RSS of this process (VmHWM: ru_maxrss would count the parent's size at fork)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux: KiB


def run_one(reader: str, path: Path) -> dict[str, Any]:
    """In the child: import, note RSS, read every row; the numbers as a dict."""
    if reader in MODULES:
        try:
            __import__(MODULES[reader])
        except ImportError:
            return {"missing": True}
    import xlsxwriter  # noqa: F401

    import synapse.imports.xlsx  # noqa: F401  (same baseline for every reader)

    base = rss_mb()
    started = time.process_time()
    rows = sum(1 for _ in RUNNERS[reader](path))
    seconds = time.process_time() - started
    return {"rows": rows, "seconds": seconds, "peak": rss_mb(), "growth": rss_mb() - base}


def measure(reader: str, path: Path, repeat: int) -> dict[str, Any]:
    """The best CPU time of `repeat` runs (each in a fresh interpreter) and the highest RSS."""
    runs: list[dict[str, Any]] = []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, __file__, "--run", reader, str(path)],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        if runs[-1].get("missing"):
            return runs[-1]
    best = min(runs, key=lambda r: r["seconds"])
    return best | {"peak": max(r["peak"] for r in runs), "growth": max(r["growth"] for r in runs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", default="20000,100000")
    parser.add_argument("--repeat", type=int, default=3, help="runs per reader; the best counts")
    parser.add_argument("--readers", default=",".join(READERS))
    parser.add_argument("--run", nargs=2, metavar=("READER", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        print(json.dumps(run_one(args.run[0], Path(args.run[1]))))
        return
    print(f"{'reader':<20} {'rows':>8} {'MB':>6} {'rows/s':>9} {'cells/s':>10} "
          f"{'peak RSS':>9} {'growth':>7}")  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        for count in (int(n) for n in args.rows.split(",")):
            path = Path(folder) / f"assets-{count}.xlsx"
            make_workbook(path, count)
            size = path.stat().st_size / 1e6
            for reader in args.readers.split(","):
                got = measure(reader, path, args.repeat)
                if got.get("missing"):
                    print(f"{reader:<20} {'':>8} {size:>6.1f}  (not installed)")
                    continue
                rate = got["rows"] / got["seconds"]
                print(f"{reader:<20} {got['rows']:>8} {size:>6.1f} {rate:>9,.0f} "
                      f"{rate * COLUMNS:>10,.0f} {got['peak']:>7.0f}MB {got['growth']:>5.0f}MB",
                      flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
