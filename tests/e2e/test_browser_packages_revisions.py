"""Package revisions in a real browser (Debian's chromium driven by Playwright), against
`synapse up`: revision A generated from the Packages page, a few asset values changed by an import
through the API, revision B generated from the page; B's PDF and workbook have a "Changes since
revision A" section listing exactly the changed values, and the page says how many there are."""

from __future__ import annotations

import csv
import io
import signal
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pypdf
import pytest

from tests.e2e.conftest import UpInstance, call, finished, shot, start
from tests.support.csvdata import assets_csv

pytest.importorskip("playwright")
from playwright.sync_api import Page, expect

PROJECT = "plant-rev"
CHANGES = (  # tag, field, new value
    ("P-000003", "power_kw", "44"),
    ("P-000005", "area", "B9"),
    ("P-000007", "description", "=cmd|' /C calc'!A0"),  # stays text in the workbook
)


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpInstance]:
    instance = start(tmp_path_factory.mktemp("revisions-ui"), "ui")
    yield instance
    instance.stop(signal.SIGTERM)


def import_csv(ui: UpInstance, content: bytes) -> None:
    files = {"file": ("plant.csv", content, "text/csv")}
    accepted = call(ui, "POST", "/ingestion/upload-csv", files=files, data={"project_id": PROJECT})
    finished(ui, accepted["job_id"], what="the import")


def changed_csv() -> tuple[bytes, list[tuple[str, str, str, str]]]:
    """The rows of three assets with one value changed each, and (tag, field, old, new)."""
    header, *lines = list(csv.reader(io.StringIO(assets_csv(24).decode())))
    rows = {line[0]: dict(zip(header, line, strict=True)) for line in lines}
    expected = []
    for tag, field, new in CHANGES:
        expected.append((tag, field, rows[tag][field], new))
        rows[tag][field] = new
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows[tag] for tag, _, _ in CHANGES)
    return out.getvalue().encode(), expected


def generate(page: Page, revision: str) -> None:
    page.fill("input[name=revision]", revision)
    page.click("#generate")
    expect(page.locator("#package-progress .state")).to_have_text("success", timeout=60_000)
    ready = f"Revision {revision} is ready."
    expect(page.locator("#package-result .outcome")).to_have_text(ready)


def downloads(page: Page, tmp_path: Path) -> dict[str, Path]:
    links = page.locator("#package-result a.file")
    expect(links).to_have_count(2)  # the workbook and the PDF; the snapshot is not offered
    got: dict[str, Path] = {}
    for i in range(2):
        with page.expect_download() as download:
            links.nth(i).click()
        path = tmp_path / download.value.suggested_filename
        download.value.save_as(path)
        got[path.suffix] = path
    return got


def test_revision_b_shows_the_changes_made_since_revision_a(
    ui: UpInstance, page: Page, tmp_path: Path
) -> None:
    import_csv(ui, assets_csv(24))
    page.goto(f"{ui.base_url}/packages?project={PROJECT}")
    page.fill("input[name=title]", "Issued for construction")
    generate(page, "A")
    expect(page.locator("#package-result .changes")).to_have_text(
        "No earlier revision to compare with."
    )
    first = page.locator("#package-rows tbody tr").first
    expect(first.locator("td.rev")).to_have_text("A")
    expect(first.locator(".changes")).to_have_count(0)
    job_a = first.get_attribute("data-job")

    content, expected = changed_csv()
    import_csv(ui, content)
    generate(page, "B")
    expect(page.locator("#package-result .changes")).to_have_text("Changes since revision A: 3")
    latest = page.locator("#package-rows tbody tr").first
    expect(latest.locator("td.rev")).to_have_text("B")
    expect(latest.locator(".changes")).to_have_text("changes since A: 3")
    expect(latest.locator("a.file")).to_have_count(2)
    expect(page.locator("#package-rows tbody tr").nth(1).locator("td.rev")).to_have_text("A")
    shot(page, "packages-revisions.png")
    got = downloads(page, tmp_path)

    # The workbook: a sheet listing exactly the changed values, as text.
    book = openpyxl.load_workbook(got[".xlsx"])
    sheet = book["Changes since A"]
    header, *rows = list(sheet.iter_rows(values_only=True))
    assert header == ("Tag", "Field", "Old", "New")
    assert rows == expected
    assert {c.data_type for row in sheet.iter_rows() for c in row} == {"s"}

    # The PDF: "Changes since revision A" after the contents, the same rows, nothing else.
    texts = [p.extract_text() for p in pypdf.PdfReader(got[".pdf"]).pages]
    section = [t for t in texts if "CHANGES" in t and "Changes since revision A" in t]
    assert len(section) == 1, texts[:4]
    assert "3 changes: 3 values changed" in section[0]
    for tag, field, old, new in expected:
        assert f"{tag} {field} {old} {new}" in section[0], section[0]
    others = {f"P-{i:06d}" for i in range(24)} - {tag for tag, _, _, _ in expected}
    assert not [tag for tag in others if tag in section[0]]
    assert texts.index(section[0]) == 2  # cover, contents, then the changes

    # The row's note links to revision A's job.
    latest.locator(".changes a").click()
    expect(page).to_have_url(f"{ui.base_url}/jobs/{job_a}")
