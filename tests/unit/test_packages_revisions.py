"""Package revisions: the diff, the section in the workbook and the PDF, the previous revision
picked from the job table, and run_package recording its snapshot and the changes since A."""

from __future__ import annotations

import gzip
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pypdf
import pytest
from sqlalchemy import insert, select, update

from synapse.config import Settings
from synapse.db.engine import session_scope
from synapse.db.models import Asset, Job, StoredFile, utcnow
from synapse.files import absolute_path
from synapse.packages import excel, service
from synapse.packages.data import AssetRow, Heading, Survey
from synapse.packages.options import package_job
from synapse.packages.pdf import PdfPlan, write_pdf
from synapse.packages.pdf_changes import plan_changes
from synapse.packages.revisions import ASSET, Change, Changes, Differ, diff, printed
from synapse.packages.snapshots import find_previous, read_snapshot
from synapse.projects import ensure_project
from tests.support.local import sqlite_settings

HEADING = Heading(
    project_key="proj-1",
    project_name="Refinery unit 7",
    title="Issued for construction",
    revision="B",
    date="2026-12-01",
    package_type="full",
)


def values(kind: str, **props: Any) -> dict[str, Any]:
    return {"type": kind, "properties": props}


# -- the diff -------------------------------------------------------------------------------


def test_diff_lists_changed_values_added_and_removed_assets_sorted_by_tag_then_field():
    old = {
        "P-2": values("Pump", power_kw="15", area="A1", note="x"),
        "M-1": values("Motor", power_kw=7),
        "V-9": values("Valve"),
        "T-1": values("Transmitter", range="0-10"),
    }
    new = {
        "M-1": values("Motor", power_kw=7),  # unchanged
        "P-2": values("Pump", power_kw="18.5", area="A1", seal="53B"),  # changed, added, gone
        "T-1": values("Analyser", range="0-10"),  # the type changed
        "A-0": values("Motor", power_kw=1),  # a new asset
    }
    assert diff(old, new) == [
        Change("A-0", ASSET, "", "added (Motor)", "added"),
        Change("P-2", "note", "x", ""),
        Change("P-2", "power_kw", "15", "18.5"),
        Change("P-2", "seal", "", "53B"),
        Change("T-1", "type", "Transmitter", "Analyser"),
        Change("V-9", ASSET, "Valve", "removed", "removed"),
    ]
    assert diff(old, old) == [] and diff({}, {}) == []


@pytest.mark.parametrize(
    ("before", "after"),
    [(1, "1"), (1, 1.0), (1, True), (None, ""), ({"a": 1}, {"a": 2}), ([1], [1, 2])],
)
def test_values_of_another_kind_are_a_change(before: Any, after: Any):
    rows = diff({"X": values("T", v=before)}, {"X": values("T", v=after)})
    assert [(r.tag, r.field) for r in rows] == [("X", "v")]


def test_json_values_are_printed_as_the_package_prints_them():
    rows = diff({"X": values("T", a=True, b=55.0)}, {"X": values("T", a=False, b=None)})
    assert [(r.field, r.old, r.new) for r in rows] == [("a", "true", "false"), ("b", "55.0", "")]


def test_the_streaming_differ_agrees_with_diff_and_frees_what_it_saw():
    old = {f"T-{i:03d}": values("Pump", n=i) for i in range(50)}
    new = {f"T-{i:03d}": values("Pump", n=i + (i % 7 == 0)) for i in range(10, 60)}
    differ = Differ(old)
    for tag, value in reversed(new.items()):  # any order: the result is sorted
        differ.add(tag, value)
    assert differ.finish() == diff(old, new)
    assert differ.left == {}
    assert set(old) == {f"T-{i:03d}" for i in range(50)}  # the caller's mapping is untouched


def test_counts_summary_and_printed_cap():
    rows = (
        *(Change(f"T-{i}", "a", "1", "2") for i in range(5)),
        Change("N-1", ASSET, "", "added (Pump)", "added"),
    )
    changes = Changes("A", "job-a", rows)
    assert changes.summary() == {
        "revision": "A",
        "job_id": "job-a",
        "count": 6,
        "values_changed": 5,
        "assets_added": 1,
        "assets_removed": 0,
    }
    assert changes.describe() == "6 changes: 5 values changed, 1 asset added"
    assert Changes("A", "j", ()).describe() == "0 changes"
    shown, more = printed(rows, 4)
    assert shown == list(rows[:4]) and more == 2


# -- the workbook and the PDF ---------------------------------------------------------------


def assets() -> list[AssetRow]:
    return [
        AssetRow("P-1", "Pump", {"power_kw": "18.5"}),
        AssetRow("Changes since A", "Changes since A", {"x": 1}),  # a type named like the sheet
    ]


def survey_of(rows: list[AssetRow]) -> Survey:
    survey = Survey()
    for row in rows:
        survey.add(row)
    return survey


RISKY = Changes(
    "A",
    "job-a",
    (
        Change("P-1", "note", "ok", '=HYPERLINK("http://x.invalid","click")'),
        Change("P-1", "power_kw", "15", "18.5"),
        Change("P-2", ASSET, "Pump", "removed", "removed"),
    ),
)


def test_workbook_has_a_changes_sheet_of_text_cells(tmp_path: Path):
    rows = assets()
    path = tmp_path / "out.xlsx"
    excel.write_workbook(
        path,
        heading=HEADING,
        survey=survey_of(rows),
        parts=("index", "datasheets"),
        assets=rows,
        tick=lambda n: None,
        tmpdir=tmp_path,
        changes=RISKY,
    )
    book = openpyxl.load_workbook(path)
    assert book.sheetnames[:2] == ["Summary", "Changes since A"]
    assert "Changes since A (2)" in book.sheetnames  # the asset type's sheet steps aside
    sheet = book["Changes since A"]
    got = [[c.value for c in r] for r in sheet.iter_rows()]
    assert got == [["Tag", "Field", "Old", "New"], *[c.row() for c in RISKY.rows]]
    assert {c.data_type for r in sheet.iter_rows() for c in r} == {"s"}
    summary = {r[0]: r[1] for r in book["Summary"].iter_rows(values_only=True) if r[0]}
    assert summary["Changes since revision A"] == "3 changes: 2 values changed, 1 asset removed"


def test_changes_sheet_name_is_legal_for_any_revision():
    assert excel.changes_sheet_name("B") == "Changes since B"
    name = excel.changes_sheet_name("rev/7:[draft]'x'" + "z" * 20)
    assert len(name) <= 31 and not set(name) & set("[]:*?/\\")
    assert not name.endswith("'")


def render(tmp_path: Path, changes: Changes | None, rows: list[AssetRow]) -> tuple[Any, PdfPlan]:
    plan = PdfPlan(("index", "datasheets"))
    for row in rows:
        plan.add(row)
    plan.finish()
    if changes is not None:
        plan.changes = plan_changes(changes, limit=40)
    path = tmp_path / "out.pdf"
    write_pdf(
        path,
        heading=HEADING,
        survey=survey_of(rows),
        plan=plan,
        assets=lambda: rows,
        tick=lambda n: None,
    )
    return pypdf.PdfReader(path), plan


def test_pdf_prints_the_changes_after_the_contents_and_caps_them(tmp_path: Path):
    rows = assets()
    many = Changes(
        "A", "job-a", tuple(Change(f"T-{i:03d}", "power_kw", str(i), str(i + 1)) for i in range(45))
    )
    without, plain = render(tmp_path, None, rows)
    reader, plan = render(tmp_path, many, rows)
    assert plan.changes_pages >= 1
    assert plan.total_pages == plain.total_pages + plan.changes_pages == len(reader.pages)
    texts = [p.extract_text() for p in reader.pages]
    first = 1 + plan.contents_pages  # 0-based: after the cover and the contents
    assert "Changes since revision A" in texts[first]
    assert "45 changes: 45 values changed" in texts[first]
    section = "\n".join(texts[first : first + plan.changes_pages])
    assert "T-000" in section and "T-039" in section and "T-040" not in section
    assert "... and 5 more" in section
    contents = texts[1]
    assert f"Changes since revision A 45 changes {first + 1}" in contents
    assert "Instrument index" in contents
    for n, text in enumerate(texts, start=1):
        assert f"Page {n} of {len(texts)}" in text
    outline = [item.title for item in reader.outline if not isinstance(item, list)]
    assert outline[:3] == ["Cover", "Contents", "Changes since revision A"]
    assert not any("Changes since revision" in p.extract_text() for p in without.pages)


# -- the previous revision and run_package --------------------------------------------------


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    settings = sqlite_settings(tmp_path, monkeypatch)
    with session_scope(settings) as session:
        project = ensure_project(session, "p1")
        now = utcnow()
        session.execute(
            insert(Asset),
            [
                {
                    "project_id": project.id,
                    "tag": f"T-{i:03d}",
                    "type": ("Motor", "Pump")[i % 2],
                    "properties": {"power_kw": str(i), "note": "ok"},
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(30)
            ],
        )
    return settings


def run(settings: Settings, job_id: str, revision: str, **options: Any) -> dict[str, Any]:
    """run_package as the task runs it, then the job row as the job framework leaves it."""
    options = {"revision": revision, **options}
    job = package_job(project_key="p1", package_type="full", options=options, job_id=job_id)

    class Quiet:
        def update_progress(self, *args: Any, **kwargs: Any) -> None: ...

        def log(self, level: str, message: str) -> None: ...

    params = {"project_id": "p1", "package_type": "full", "options": options}
    with session_scope(settings) as session:
        session.add(
            Job(
                id=job_id,
                type="generate_package",
                project_key="p1",
                params=params,
                state="RUNNING",
                created_at=utcnow(),
            )
        )
    result = service.run_package(settings, job, Quiet())
    with session_scope(settings) as session:
        session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(state="SUCCESS", result=result, finished_at=utcnow())
        )
    return result


def change_assets(settings: Settings) -> None:
    with session_scope(settings) as session:
        project_id = session.scalar(select(Asset.project_id).limit(1))
        session.execute(
            update(Asset)
            .where(Asset.tag == "T-003")
            .values(properties={"power_kw": "30", "note": "=1+2"})
        )
        session.execute(update(Asset).where(Asset.tag == "T-004").values(type="Fan"))
        session.execute(Asset.__table__.delete().where(Asset.tag == "T-005"))
        now = utcnow()
        session.add(
            Asset(project_id=project_id, tag="T-100", type="Pump", properties={}, created_at=now)
        )


def file_of(settings: Settings, result: dict[str, Any], ext: str) -> Path:
    record = next(f for f in result["files"] if f["name"].endswith(ext))
    with session_scope(settings) as session:
        return absolute_path(settings, session.get(StoredFile, record["id"]))


EXPECTED = [
    ("T-003", "note", "ok", "=1+2"),
    ("T-003", "power_kw", "3", "30"),
    ("T-004", "type", "Motor", "Fan"),
    ("T-005", ASSET, "Pump", "removed"),
    ("T-100", ASSET, "", "added (Pump)"),
]


def test_revision_b_records_its_snapshot_and_prints_the_changes_since_a(settings: Settings):
    first = run(settings, "job-a", "A")
    assert first["changes_since"] is None
    assert [Path(f["name"]).suffix for f in first["files"]] == [".xlsx", ".pdf"]  # no snapshot
    with session_scope(settings) as session:
        stored = session.get(StoredFile, first["snapshot_file_id"])
        assert stored is not None and stored.job_id == "job-a"
        assert stored.name.endswith("_snapshot.json.gz")
        path = absolute_path(settings, stored)
    snapshot = read_snapshot(path)
    assert snapshot["revision"] == "A" and len(snapshot["assets"]) == 30
    assert snapshot["assets"]["T-003"] == values("Pump", power_kw="3", note="ok")
    json.loads(gzip.decompress(path.read_bytes()))  # plain gzip'd JSON

    change_assets(settings)
    second = run(settings, "job-b", "B")
    assert second["changes_since"] == {
        "revision": "A",
        "job_id": "job-a",
        "count": 5,
        "values_changed": 3,
        "assets_added": 1,
        "assets_removed": 1,
    }
    assert second["summary"].endswith("; 5 changes since revision A")

    book = openpyxl.load_workbook(file_of(settings, second, ".xlsx"))
    rows = list(book["Changes since A"].iter_rows(values_only=True))
    assert rows == [("Tag", "Field", "Old", "New"), *EXPECTED]
    reader = pypdf.PdfReader(file_of(settings, second, ".pdf"))
    text = "\n".join(p.extract_text() for p in reader.pages[:4])
    assert "Changes since revision A" in text
    assert "T-003 power_kw 3 30" in text and "T-004 type Motor Fan" in text

    # Re-issuing B compares with A again (the last revision that differs), C with B.
    again = run(settings, "job-b2", "B")
    assert again["changes_since"]["job_id"] == "job-a" and again["changes_since"]["count"] == 5
    third = run(settings, "job-c", "C")
    assert third["changes_since"]["job_id"] == "job-b2"
    assert third["changes_since"]["count"] == 0


def test_previous_is_the_last_success_of_the_same_type_whose_snapshot_is_stored(
    settings: Settings,
):
    run(settings, "job-a", "A")
    run(settings, "job-b", "B", formats=["xlsx"])

    def previous(revision: str, package_type: str = "full") -> str | None:
        found = find_previous(
            settings, project_key="p1", package_type=package_type, revision=revision
        )
        return found.job_id if found else None

    assert previous("C") == "job-b"
    assert previous("B") == "job-a"
    assert previous("C", "datasheets") is None
    with session_scope(settings) as session:  # B finished first after all
        session.execute(
            update(Job).where(Job.id == "job-b").values(finished_at=utcnow() - timedelta(hours=1))
        )
    assert previous("C") == "job-a"
    with session_scope(settings) as session:  # A failed, B's snapshot is gone
        session.execute(update(Job).where(Job.id == "job-a").values(state="FAILURE"))
        snapshot = session.scalar(select(Job.result).where(Job.id == "job-b"))["snapshot_file_id"]
        absolute_path(settings, session.get(StoredFile, snapshot)).unlink()
    assert previous("C") is None


def test_a_run_without_a_job_records_no_snapshot(settings: Settings):
    job = package_job(project_key="p1", package_type="full", options={"formats": ["xlsx"]})

    class Quiet:
        def update_progress(self, *args: Any, **kwargs: Any) -> None: ...

        def log(self, level: str, message: str) -> None: ...

    result = service.run_package(settings, job, Quiet())
    assert result["snapshot_file_id"] is None
    with session_scope(settings) as session:
        assert len(session.scalars(select(StoredFile)).all()) == 1


def test_the_packages_page_hides_the_snapshot_and_notes_the_changes():
    import synapse.web.views  # noqa: F401  (the web modules import each other in this order)
    from synapse.web.packages import _shown_files, changes_note

    job = Job(id="j", result={"snapshot_file_id": "s", "changes_since": RISKY.summary()})
    files = [
        StoredFile(id="s", name="p1_full_rev-B_2026-12-01_snapshot.json.gz", size=1),
        StoredFile(id="x", name="p1_full_rev-B_2026-12-01.xlsx", size=1),
    ]
    assert [f.id for f in _shown_files(job, files)] == ["x"]
    assert changes_note(job.result) == {"revision": "A", "count": 3, "job_id": "job-a"}
    assert changes_note({"changes_since": None}) is None and changes_note(None) is None
