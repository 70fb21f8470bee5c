"""Engineering packages end to end: HTTP → real worker (bulk queue) → files → download."""

from __future__ import annotations

import io
import re
import uuid
from typing import Any

import openpyxl
import pypdf
from sqlalchemy import select

from synapse.db.engine import session_scope
from synapse.db.models import StoredFile
from tests.support.csvdata import assets_csv
from tests.support.system import EventCollector, System
from tests.support.waiting import wait_for

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def project() -> str:
    return f"pkg-{uuid.uuid4().hex[:8]}"


def engineering_csv(rows: int) -> bytes:
    """Assets with a formula-looking value, non-Latin text and a long description."""
    lines = ["tag,type,power_kw,manufacturer,note,description"]
    makers = ("ABB", "Ölpumpe GmbH", "泵业")
    for i in range(rows):
        note = "=1+2" if i == 7 else "@SUM(A1)" if i == 8 else f"n{i}"
        text = "Mechanical seal flushed per API plan 53B, bearings greased for life. " * (i % 3)
        kind = ("Motor", "Pump", "Transmitter")[i % 3]
        lines.append(f'E-{i:04d},{kind},{i % 90 + 1},{makers[i % 3]},{note},"{text}"')
    return ("\n".join(lines) + "\n").encode()


def request_package(system: System, key: str, body: dict[str, Any]) -> Any:
    with system.client() as client:
        return client.post(f"/api/v1/projects/{key}/packages", json=body)


def make_package(system: System, key: str, body: dict[str, Any], timeout: float = 120) -> Any:
    response = request_package(system, key, body)
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status"] == "QUEUED" and accepted["job_id"]
    return system.wait_job(accepted["job_id"], timeout=timeout)


def download(system: System, file: dict[str, Any]) -> Any:
    with system.client() as client:
        response = client.get(f"/api/v1/files/{file['id']}")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(file["media_type"])
    assert file["name"] in response.headers["content-disposition"]
    assert len(response.content) == file["size"]
    return response.content


def files_of(system: System, job_id: str) -> list[StoredFile]:
    with session_scope(system.settings) as session:
        return list(session.scalars(select(StoredFile).where(StoredFile.job_id == job_id)))


def test_full_package_of_540_assets(system: System, events: EventCollector):
    key = project()
    assert system.import_csv(engineering_csv(540), project=key)["state"] == "SUCCESS"
    body = {"package_type": "full", "options": {"title": "Issued for review", "revision": "B"}}
    job = make_package(system, key, body)

    assert job["state"] == "SUCCESS", job
    assert job["queue"] == "bulk"
    result = job["result"]
    assert result["asset_count"] == 540
    xlsx_file, pdf_file = result["files"]
    assert set(xlsx_file) == {"id", "name", "size", "media_type"}
    assert xlsx_file["media_type"] == XLSX and pdf_file["media_type"] == "application/pdf"
    assert re.fullmatch(rf"{key}_full_rev-B_\d{{4}}-\d\d-\d\d\.xlsx", xlsx_file["name"])

    book = openpyxl.load_workbook(io.BytesIO(download(system, xlsx_file)), read_only=True)
    index = book["Index"]
    rows = list(index.iter_rows(values_only=True))
    assert len(rows) == 541
    header = rows[0]
    assert header[:2] == ("Tag", "Type")
    by_tag = {row[0]: dict(zip(header, row, strict=True)) for row in rows[1:]}
    assert by_tag["E-0007"]["note"] == "=1+2"  # a string, never a formula
    assert by_tag["E-0008"]["note"] == "@SUM(A1)"
    assert by_tag["E-0001"]["manufacturer"] == "Ölpumpe GmbH"
    assert {"Summary", "Motor", "Pump", "Transmitter"} <= set(book.sheetnames)

    reader = pypdf.PdfReader(io.BytesIO(download(system, pdf_file)))
    texts = [page.extract_text() for page in reader.pages]
    assert len(texts) == result["pages"]
    datasheets = [t for t in texts if "DATASHEET" in t]
    assert len(datasheets) == 540
    assert "Issued for review" in texts[0] and key in texts[0]  # the cover
    assert "Contents" in texts[1]
    index_pages = [t for t in texts if "INDEX" in t and "Instrument index" in t]
    contents = [t for t in texts if "Contents" in t]
    assert len(texts) == 1 + len(contents) + len(index_pages) + 540
    assert any("E-0124" in t and "Type: Pump" in t for t in datasheets)
    assert f"of {len(texts)}" in datasheets[-1] and "Revision B" in datasheets[-1]

    stream = events.wait_final(job["id"])
    messages = [e["message"] for e in stream if e["action_type"] == "PROGRESS"]
    assert any(re.search(r"Generating PDF\.\.\. \d+/\d+ pages", m) for m in messages), messages


def test_xlsx_alone_on_the_urgent_queue(system: System):
    key = project()
    system.import_csv(assets_csv(40), project=key)
    body = {"package_type": "instrument_index", "options": {"formats": ["xlsx"]}}
    job = make_package(system, key, {**body, "priority": "urgent"})
    assert job["state"] == "SUCCESS", job
    assert job["queue"] == "urgent"
    assert [f["name"][-5:] for f in job["result"]["files"]] == [".xlsx"]
    book = openpyxl.load_workbook(io.BytesIO(download(system, job["result"]["files"][0])))
    assert book["Index"].max_row == 41


def test_cancel_mid_pdf_leaves_no_file(system: System):
    key = project()
    system.import_csv(assets_csv(4000), project=key)
    response = request_package(
        system, key, {"package_type": "datasheets", "options": {"formats": ["xlsx", "pdf"]}}
    )
    job_id = response.json()["job_id"]
    wait_for(
        lambda: system.job(job_id)["message"].startswith("Generating PDF"),
        timeout=60,
        what="the PDF to be under way",
    )
    with system.client() as client:
        assert client.post(f"/api/v1/jobs/{job_id}/cancel").status_code == 200
    job = system.wait_job(job_id)
    assert job["state"] == "CANCELLED", job
    assert files_of(system, job_id) == []
    folder = system.settings.data_dir / "files" / "package"
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []


def test_a_project_without_assets_fails_clearly(system: System):
    key = project()
    dry = system.import_csv(assets_csv(3), project=key, mode="dry_run")  # creates the project only
    assert dry["state"] == "SUCCESS"
    job = make_package(system, key, {"package_type": "full"})
    assert job["state"] == "FAILURE"
    assert job["error"].startswith("project has no assets")
    assert job["traceback"] is None
    assert files_of(system, job["id"]) == []


def test_unknown_project_and_bad_options_answer_at_once(system: System):
    response = request_package(system, "no-such-project", {"package_type": "full"})
    assert response.status_code == 404
    assert response.json()["detail"] == "project no-such-project not found"

    key = project()
    system.import_csv(assets_csv(2), project=key)
    bad = request_package(system, key, {"package_type": "full", "options": {"formats": ["doc"]}})
    assert bad.status_code == 422
    assert bad.json()["detail"].startswith("invalid package request: options.formats.0")
