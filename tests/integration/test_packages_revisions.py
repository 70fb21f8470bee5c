"""Package revisions end to end: revision A, an import that changes a few values, revision B.

On the session's real system (two worker processes, each database). B's PDF is drawn in chunks
(1,100 assets, chunks of 500) so the "Changes since revision A" pages are part of the front
matter the parent draws before the merge: page numbers, contents and outline must still be right.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from typing import Any

import openpyxl
import pypdf

from tests.integration.test_packages import download, engineering_csv, files_of, make_package
from tests.support.system import System

ASSETS = 1_100
CONTENTS_ROW = re.compile(r"Changes since revision A\s+(\d+) changes?\s+(\d+)")


def changed_rows() -> tuple[bytes, list[tuple[str, str, str, str]]]:
    """A CSV that changes three values of three assets and adds one, and the changes expected."""
    header, *lines = list(csv.reader(io.StringIO(engineering_csv(ASSETS).decode())))
    rows = {line[0]: dict(zip(header, line, strict=True)) for line in lines}
    expected = []
    for tag, column, value in (
        ("E-0010", "note", "=2+3 checked"),
        ("E-0600", "manufacturer", "Siemens"),
        ("E-1099", "power_kw", "25"),
    ):
        expected.append((tag, column, rows[tag][column], value))
        rows[tag][column] = value
    rows["E-2000"] = {**rows["E-0003"], "tag": "E-2000"}
    expected.append(("E-2000", "(asset)", "", f"added ({rows['E-2000']['type']})"))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    for tag in ("E-0010", "E-0600", "E-1099", "E-2000"):
        writer.writerow(rows[tag])
    return out.getvalue().encode(), sorted(expected)


def file_named(job: dict[str, Any], ext: str) -> dict[str, Any]:
    return next(f for f in job["result"]["files"] if f["name"].endswith(ext))


def test_revision_b_of_a_chunked_package_prints_the_changes_since_a(system: System):
    key = f"rev-{uuid.uuid4().hex[:8]}"
    assert system.import_csv(engineering_csv(ASSETS), project=key)["state"] == "SUCCESS"
    body: dict[str, Any] = {"package_type": "full", "options": {"revision": "A"}}
    first = make_package(system, key, body, timeout=180)
    assert first["state"] == "SUCCESS", first
    assert first["result"]["changes_since"] is None
    snapshot = first["result"]["snapshot_file_id"]
    assert snapshot in {f.id for f in files_of(system, first["id"])}
    assert snapshot not in {f["id"] for f in first["result"]["files"]}
    with system.client() as client:  # the job page offers the package's files, not its snapshot
        page = client.get(f"/jobs/{first['id']}")
    assert page.status_code == 200
    assert f'/api/v1/files/{first["result"]["files"][0]["id"]}"' in page.text
    assert f"/api/v1/files/{snapshot}" not in page.text

    # Another package type, made meanwhile, is not a revision of this one.
    index = make_package(system, key, {"package_type": "instrument_index"})
    assert index["state"] == "SUCCESS" and index["result"]["changes_since"] is None

    content, expected = changed_rows()
    assert system.import_csv(content, project=key)["state"] == "SUCCESS"
    body["options"] = {"revision": "B", "title": "Issued for construction"}
    second = make_package(system, key, body, timeout=180)
    assert second["state"] == "SUCCESS", second
    result = second["result"]
    assert result["changes_since"] == {
        "revision": "A",
        "job_id": first["id"],
        "count": 4,
        "values_changed": 3,
        "assets_added": 1,
        "assets_removed": 0,
    }
    assert len(result["chunks"]) == 3  # drawn in chunks, merged by the parent
    assert "4 changes since revision A" in result["summary"]

    # The workbook lists exactly the changes, every cell text.
    book = openpyxl.load_workbook(io.BytesIO(download(system, file_named(second, ".xlsx"))))
    sheet = book["Changes since A"]
    header, *rows = list(sheet.iter_rows(values_only=True))
    assert header == ("Tag", "Field", "Old", "New")
    assert rows == expected
    assert {c.data_type for row in sheet.iter_rows() for c in row} == {"s"}

    # The PDF: the section after the contents, in the contents and the outline, pages numbered.
    reader = pypdf.PdfReader(io.BytesIO(download(system, file_named(second, ".pdf"))))
    total = len(reader.pages)
    assert total == result["pages"] == result["chunks"][-1]["last_page"]
    texts: dict[int, str] = {}

    def text(n: int) -> str:
        if n not in texts:
            texts[n] = reader.pages[n - 1].extract_text()
        return texts[n]

    contents = next(text(n) for n in (2, 3) if "Contents" in text(n))
    found = CONTENTS_ROW.search(contents)
    assert found is not None, contents
    count, page = int(found.group(1)), int(found.group(2))
    assert count == 4
    section = text(page)
    assert "Changes since revision A" in section and "CHANGES" in section
    assert f"Page {page} of {total}" in section
    assert "4 changes: 3 values changed, 1 asset added" in section
    for tag, field, old, new in expected:
        assert re.search(
            rf"{tag}\s+{re.escape(field)}\s+{re.escape(old)}\s*{re.escape(new)}", section
        )
    assert "E-0011" not in section
    assert "INDEX" in text(page + 1)  # the index follows
    first_sheet = result["chunks"][0]["first_page"]
    assert "DATASHEET" in text(first_sheet) and "DATASHEET" not in text(first_sheet - 1)
    assert f"Page {total} of {total}" in text(total)
    outline = [item for item in reader.outline if not isinstance(item, list)]
    titles = [item.title for item in outline]
    assert titles[:4] == ["Cover", "Contents", "Changes since revision A", "Instrument index"]
    assert reader.get_destination_page_number(outline[2]) + 1 == page

    # Issued again as B: still compared with A.
    again = make_package(system, key, body, timeout=180)
    assert again["result"]["changes_since"]["job_id"] == first["id"]
