"""Excel workbooks through the same upload, on a real worker: title blocks, engineers' column
names, numbers and dates as a person sees them, and hostile files refused fast."""

from __future__ import annotations

import csv
import io
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import psutil
import xlsxwriter

from tests.support.system import System

ROWS = 20_000
HEADER = ["Tag No.", "Equipment Type", "Rated Power [kW]", "Range", "Installed", "Spare"]
TYPES = ("Motor", "Pump", "Transmitter", "Valve")


def project() -> str:
    return f"xl-{uuid.uuid4().hex[:8]}"


def values(i: int) -> list[Any]:
    return [
        f"M-{i:05d}",
        TYPES[i % 4],
        (i % 90) + 0.5,  # 7.5, a number cell
        "4–20 mA",
        date(2026, 1 + i % 12, 1 + i % 28),
        i % 3 == 0,
    ]


def shown(i: int) -> list[str]:
    """The same row as a person reads it in Excel (and as a CSV of it holds it)."""
    tag, kind, power, rng, day, spare = values(i)
    return [tag, kind, f"{power:g}", rng, day.isoformat(), "TRUE" if spare else "FALSE"]


def workbook(path: Path) -> Path:
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Instrument list")
    title = book.add_format({"bold": True})
    when = book.add_format({"num_format": "yyyy-mm-dd"})
    sheet.merge_range(0, 0, 0, 5, "Plant 7 — instrument list", title)
    sheet.merge_range(1, 0, 1, 5, "Revision B, issued for construction")
    sheet.write_row(3, 0, HEADER, title)
    for i in range(ROWS):
        tag, kind, power, rng, day, spare = values(i)
        row = 4 + i
        sheet.write_string(row, 0, tag)
        sheet.write_string(row, 1, kind)
        sheet.write_number(row, 2, power)
        sheet.write_string(row, 3, rng)
        sheet.write_datetime(row, 4, day, when)
        sheet.write_boolean(row, 5, spare)
    notes = book.add_worksheet("Notes")
    notes.write(0, 0, "Not assets")
    book.close()
    return path


def as_csv() -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(HEADER)
    for i in range(ROWS):
        writer.writerow(shown(i))
    return buf.getvalue().encode()


def assets_of(system: System, key: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    with system.client() as client:
        offset = 0
        while True:
            page = client.get(
                f"/api/v1/projects/{key}/assets", params={"limit": 1000, "offset": offset}
            ).json()
            found.update({a["tag"]: (a["type"], a["properties"]) for a in page["items"]})
            offset += 1000
            if offset >= page["total"]:
                return found


def submit_file(system: System, path: Path, key: str) -> dict[str, Any]:
    """Past the test system's 2 MB upload limit: the file goes where an upload would."""
    stored = system.settings.uploads_dir / f"{uuid.uuid4().hex}.upload"
    stored.parent.mkdir(parents=True, exist_ok=True)
    stored.write_bytes(path.read_bytes())
    job_id = system.submit("import_csv_assets", project_id=key, file_path=str(stored))
    return system.wait_job(job_id, timeout=120)


def test_workbook_with_title_block_imports_like_its_csv(system: System, tmp_path: Path) -> None:
    book = workbook(tmp_path / "instruments.xlsx")
    key = project()
    job = submit_file(system, book, key)
    assert job["state"] == "SUCCESS", job
    result = job["result"]
    assert result["created_count"] == ROWS
    assert (result["kind"], result["sheet"], result["header_row"]) == ("xlsx", "Instrument list", 4)
    assert result["mapping"]["Tag No."] == "tag"
    assert result["mapping"]["Equipment Type"] == "type"
    assert result["mapping"]["Rated Power [kW]"] == "prop:rated_power_kw"
    from_book = assets_of(system, key)
    assert len(from_book) == ROWS
    assert from_book["M-00007"] == (
        "Valve",
        {"rated_power_kw": "7.5", "range": "4–20 mA", "installed": "2026-08-08", "spare": "FALSE"},
    )

    csv_file = tmp_path / "instruments.csv"
    csv_file.write_bytes(as_csv())
    key_csv = project()
    job = submit_file(system, csv_file, key_csv)
    assert job["state"] == "SUCCESS", job
    assert assets_of(system, key_csv) == from_book


def test_sheet_and_header_row_chosen_by_hand(system: System, tmp_path: Path) -> None:
    path = tmp_path / "small.xlsx"
    book = xlsxwriter.Workbook(str(path))
    book.add_worksheet("Cover").write(0, 0, "cover page")
    sheet = book.add_worksheet("Data")
    sheet.write_row(0, 0, ["Asset list"])
    sheet.write_row(2, 0, ["Item", "Kind", "Note", "Calc"])
    sheet.write_row(3, 0, ["V-1", "Valve"])
    sheet.write_string(3, 2, "=1+1")  # a text that looks like a formula stays that text
    sheet.write_formula(3, 3, "=2*3", None, 6)  # a formula: its cached value, never evaluated
    book.close()
    key = project()
    with path.open("rb") as fh:
        response = system.upload(
            fh.read(),
            project=key,
            filename="small.xlsx",
            sheet="Data",
            header_row="3",
            mapping='{"Item": "tag", "Kind": "type"}',
        )
    assert response.status_code == 202, response.text
    job = system.wait_job(response.json()["job_id"])
    assert job["state"] == "SUCCESS", job
    assert assets_of(system, key) == {"V-1": ("Valve", {"note": "=1+1", "calc": "6"})}
    no_sheet = system.upload(path.read_bytes(), project=key, sheet="Nope")
    assert no_sheet.status_code == 422 and "Cover" in no_sheet.json()["detail"]


def hostile_files(tmp_path: Path) -> dict[str, tuple[bytes, str]]:
    from tests.support.workbooks import billion_laughs, encrypted, zip_bomb

    return {
        "zip bomb": (zip_bomb(tmp_path), "zip bomb"),
        "billion laughs": (billion_laughs(tmp_path), "entity declarations"),
        "renamed PDF": (b"%PDF-1.7\n1 0 obj\n<< >>\nendobj\n", "PDF"),
        "encrypted": (encrypted(), "encrypted"),
    }


def test_hostile_workbooks_are_refused_fast_and_small(system: System, tmp_path: Path) -> None:
    key = project()
    api = psutil.Process(system.processes["api"].pid)
    worker = psutil.Process(system.processes["worker"].pid)
    for name, (content, words) in hostile_files(tmp_path).items():
        started = time.perf_counter()
        response = system.upload(content, project=key, filename="assets.xlsx")
        seconds = time.perf_counter() - started
        assert response.status_code == 415, (name, response.text)
        assert words in response.json()["detail"], (name, response.text)
        assert seconds < 2.0, (name, seconds)
    for proc in (api, *api.children(recursive=True), worker, *worker.children(recursive=True)):
        assert proc.memory_info().rss < 300 * 2**20, proc
    with system.client() as client:
        assert client.get(f"/api/v1/projects/{key}/assets").status_code == 404  # never made
        jobs = client.get("/api/v1/jobs", params={"project_id": key}).json()
    assert jobs["total"] == 0
    assert not list(system.settings.uploads_dir.glob("*.part"))
