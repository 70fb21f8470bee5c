"""The CSV import end to end: HTTP upload → real worker → database, with live events."""

from __future__ import annotations

import csv
import io
import uuid
from pathlib import Path

import httpx

from tests.support.csvdata import assets_csv
from tests.support.system import EventCollector, System


def project() -> str:
    return f"proj-{uuid.uuid4().hex[:8]}"


def assets(system: System, key: str, **params: object) -> dict:  # type: ignore[type-arg]
    with system.client() as client:
        response = client.get(f"/api/v1/projects/{key}/assets", params=params)
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]


def test_3000_rows_stream_progress_to_100_and_succeed(system: System, events: EventCollector):
    key = project()
    response = system.upload(assets_csv(3000), project=key)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "QUEUED" and body["job_id"]
    job_id = body["job_id"]

    stream = events.wait_final(job_id)

    progress = [e for e in stream if e["action_type"] == "PROGRESS"]
    percents = [e["context"]["percent"] for e in progress]
    assert len({p for p in percents if 0 < p < 100}) >= 3, percents
    assert percents == sorted(percents), "percent never goes down"
    assert percents[-1] == 100
    final = stream[-1]
    assert final["action_type"] == "STATE" and final["context"]["state"] == "SUCCESS"
    for event in stream:  # the spec's WebSocketLogger shape
        assert set(event) >= {"timestamp", "level", "message", "source", "action_type", "context"}
        assert event["source"] == "CELERY"
        assert event["message"].startswith(f"[{job_id}] ")
        assert event["context"]["task_id"] == job_id

    with system.client() as client:
        status = client.get(f"/api/v1/ingestion/job-status/{job_id}").json()
    assert status["status"] == "SUCCESS"
    assert status["result"]["created_count"] == 3000
    assert status["result"]["updated_count"] == 0
    assert status["result"]["total_rows"] == 3000
    assert assets(system, key, limit=1)["total"] == 3000


def test_job_id_filter_narrows_the_stream(system: System):
    key = project()
    first = system.upload(assets_csv(600), project=key).json()["job_id"]
    system.wait_job(first)
    second = system.upload(assets_csv(600, prefix="Q"), project=key).json()["job_id"]
    narrowed = EventCollector(f"{system.ws_url}?job_id={first}")
    try:
        # The first job is over: the connection still learns its state at once (snapshot).
        stream = narrowed.wait_final(first)
        assert stream[0]["action_type"] == "SNAPSHOT"
        assert stream[0]["context"]["state"] == "SUCCESS"
        system.wait_job(second)
        assert narrowed.for_job(second) == []
    finally:
        narrowed.close()


def test_reupload_creates_nothing_new(system: System):
    key = project()
    data = assets_csv(500)
    first = system.import_csv(data, project=key)
    second = system.import_csv(data, project=key)
    assert first["result"]["created_count"] == 500
    assert second["state"] == "SUCCESS"
    assert second["result"]["created_count"] == 0
    assert second["result"]["updated_count"] == 0
    assert second["result"]["unchanged_count"] == 500
    assert assets(system, key, limit=1)["total"] == 500


def test_three_bad_rows_fail_with_every_error_and_write_nothing(system: System):
    key = project()
    lines = assets_csv(100).decode().splitlines()
    lines[10] = ",Motor,5,A1,no tag"  # row 11
    lines[50] = "P-000049,,5,A1,no type"  # row 51
    lines[90] = lines[5]  # row 91 repeats the tag of row 6
    job = system.import_csv(("\n".join(lines) + "\n").encode(), project=key)

    assert job["state"] == "FAILURE"
    assert "3 of 100 rows are invalid" in job["error"]
    with system.client() as client:
        errors = client.get(f"/api/v1/jobs/{job['id']}/errors").json()
        status = client.get(f"/api/v1/ingestion/job-status/{job['id']}").json()
        download = client.get(f"/api/v1/jobs/{job['id']}/errors", params={"format": "csv"})
    assert errors["total"] == 3
    assert [(e["row"], e["column"]) for e in errors["items"]] == [
        (11, "tag"),
        (51, "type"),
        (91, "tag"),
    ]
    assert "first seen on row 6" in errors["items"][2]["reason"]
    assert status["status"] == "FAILURE" and status["error"] == job["error"]
    assert len(status["errors"]) == 3
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(download.text)))
    assert rows[0] == ["row", "column", "value", "reason"] and len(rows) == 4
    assert assets(system, key, limit=1)["total"] == 0


def test_excel_style_files_import(system: System):
    key = project()
    semicolon_bom_crlf = (
        "\ufeffTag;Type;Description;Power kW\r\n"
        'M-1;Motor;"Main pump motor; line 1\r\nsecond line";55\r\n'
        "M-2;Motor;plain;7,5\r\n"
        ";;;\r\n"
    ).encode()
    job = system.import_csv(semicolon_bom_crlf, project=key)
    assert job["state"] == "SUCCESS", job
    assert job["result"]["created_count"] == 2

    cp1252 = "tag\ttype\tdescription\r\nÖ-1\tPump\tÖlpumpe 5 µm – 10 €\r\n".encode("cp1252")
    job = system.import_csv(cp1252, project=key, filename="export.csv")
    assert job["state"] == "SUCCESS", job

    items = {a["tag"]: a for a in assets(system, key)["items"]}
    assert items["M-1"]["properties"]["description"] == "Main pump motor; line 1\r\nsecond line"
    assert items["M-2"]["properties"]["power_kw"] == "7,5"  # "Power kW": a property name
    assert items["Ö-1"]["properties"]["description"] == "Ölpumpe 5 µm – 10 €"


def test_bad_uploads_get_a_clear_4xx(system: System):
    key = project()
    cases = [
        (b"", 422, "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", 415, "PNG image, not a workbook or CSV"),
        (b"\x00\x01binary\x00", 415, "binary"),
        (b"name,kind\nx,y\n", 422, "none of them names a tag column"),
        (b"tag,category\nx,y\n", 422, "no column for the asset type"),
        (b"tag,type\n", 422, "no data rows"),
        (b"tag,type,a,a\nx,y,1,2\n", 422, "duplicate column"),
    ]
    for content, status, words in cases:
        response = system.upload(content, project=key)
        assert response.status_code == status, (content, response.text)
        assert words in response.json()["detail"], response.text

    big = b"tag,type\n" + b"X-1,Motor\n" * 300_000  # 3 MB > the 2 MB limit of the test system
    response = system.upload(big, project=key)
    assert response.status_code == 413
    assert "MB" in response.json()["detail"]
    # The same without a Content-Length (chunked, as a streaming client sends it): 413 too.
    body, content_type = httpx_multipart(big, key)
    with system.client() as client:
        chunked = client.post(
            "/api/v1/ingestion/upload-csv",
            content=(body[i : i + 65536] for i in range(0, len(body), 65536)),
            headers={"Content-Type": content_type},
        )
    assert chunked.status_code == 413 and "MB" in chunked.json()["detail"], chunked.text

    for form, words in [
        ({"priority": "asap"}, "priority"),
        ({"mode": "merge"}, "mode"),
    ]:
        response = system.upload(assets_csv(2), project=key, **form)
        assert response.status_code == 422 and words in response.json()["detail"]
    response = system.upload(assets_csv(2), project="../etc")
    assert response.status_code == 422 and "project_id" in response.json()["detail"]
    with system.client() as client:
        missing = client.post(
            "/api/v1/ingestion/upload-csv", files={"file": ("a.csv", assets_csv(1))}
        )
    assert missing.status_code == 422 and "project_id" in missing.text
    assert not list((system.settings.uploads_dir).glob("*.part"))


def test_client_file_name_never_becomes_a_path(system: System):
    key = project()
    job = system.import_csv(assets_csv(3), project=key, filename="../../x.csv")
    assert job["state"] == "SUCCESS"
    data_dir = system.settings.data_dir
    assert not (data_dir.parent / "x.csv").exists()
    assert not (data_dir.parent.parent / "x.csv").exists()
    stored = Path(job["params"]["file_path"])
    assert stored.parent == data_dir / "uploads" and stored.exists()
    assert "x.csv" not in stored.name
    assert job["params"]["filename"] == "x.csv"


def test_unknown_job_is_404(system: System):
    with system.client() as client:
        for path in (
            "/api/v1/ingestion/job-status/abc-123",
            f"/api/v1/jobs/{uuid.uuid4()}",
            f"/api/v1/jobs/{uuid.uuid4()}/logs",
            f"/api/v1/jobs/{uuid.uuid4()}/errors",
        ):
            response = client.get(path)
            assert response.status_code == 404, path
            assert "not found" in response.json()["detail"]
        assert client.get("/api/v1/projects/nope-404/assets").status_code == 404


def test_modes_dry_run_and_insert(system: System):
    key = project()
    dry = system.import_csv(assets_csv(50), project=key, mode="dry_run")
    assert dry["state"] == "SUCCESS" and dry["result"]["created_count"] == 50
    assert dry["result"]["dry_run"] is True
    assert assets(system, key, limit=1)["total"] == 0

    system.import_csv(assets_csv(50), project=key, mode="insert")
    again = system.import_csv(assets_csv(60), project=key, mode="insert")
    assert again["state"] == "FAILURE"
    with system.client() as client:
        errors = client.get(f"/api/v1/jobs/{again['id']}/errors").json()
    assert errors["total"] == 50 and "already exists" in errors["items"][0]["reason"]
    assert assets(system, key, limit=1)["total"] == 50

    skipped = system.import_csv(assets_csv(60), project=key, mode="insert", skip_invalid="true")
    assert skipped["state"] == "SUCCESS"
    assert skipped["result"]["created_count"] == 10
    assert skipped["result"]["error_count"] == 50
    assert assets(system, key, limit=1)["total"] == 60


def test_job_list_filters_and_logs(system: System):
    key = project()
    ok = system.import_csv(assets_csv(5), project=key)
    bad = system.import_csv(b"tag,type\n,Motor\n", project=key)
    with system.client() as client:
        listed = client.get("/api/v1/jobs", params={"project_id": key}).json()
        failed = client.get(
            "/api/v1/jobs", params={"project_id": key, "state": "failed", "since": "1h"}
        ).json()
        completed = client.get("/api/v1/jobs", params={"project_id": key, "state": "completed"})
        logs = client.get(f"/api/v1/jobs/{ok['id']}/logs").json()
        first = logs["items"][0]["id"]
        rest = client.get(f"/api/v1/jobs/{ok['id']}/logs", params={"after_id": first, "limit": 1})
        bad_state = client.get("/api/v1/jobs", params={"state": "sleepy"})
    assert listed["total"] == 2 and {j["id"] for j in listed["items"]} == {ok["id"], bad["id"]}
    assert [j["id"] for j in failed["items"]] == [bad["id"]]
    assert [j["id"] for j in completed.json()["items"]] == [ok["id"]]
    assert (
        logs["total"] == len(logs["items"]) >= 1
        and "comma-separated" in logs["items"][0]["message"]
    )
    # A page of the lines after one: the total still counts every line of the job.
    assert rest.json()["total"] == logs["total"]
    assert rest.json()["items"] == logs["items"][1:2]
    assert bad_state.status_code == 422 and "state" in bad_state.json()["detail"]


def test_health_and_openapi(system: System):
    with system.client() as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz").json()
        assert ready["status"] == "ok" and ready["checks"]["workers"]["workers"]
        assert "/api/v1/ingestion/upload-csv" in client.get("/openapi.json").json()["paths"]
        assert httpx.get(f"{system.base_url}/docs").status_code == 200


def test_awkward_characters_round_trip(system: System):
    """Backslashes, tabs, quotes and JSON look-alikes survive both databases' bulk paths."""
    key = project()
    content = (
        b"tag,type,path,note,json\n"
        b'P\\1,Pump,C:\\temp\\new,"tab\there ""quoted""",{"a": 1}\n'
        b'P\\2,Pump,\\\\server\\share,"line\nbreak",\\N\n'
    )
    for _ in range(2):  # a first import copies straight in; the second goes through staging
        job = system.import_csv(content, project=key)
        assert job["state"] == "SUCCESS", job
    items = {a["tag"]: a["properties"] for a in assets(system, key)["items"]}
    assert items["P\\1"] == {
        "path": "C:\\temp\\new",
        "note": 'tab\there "quoted"',
        "json": '{"a": 1}',
    }
    assert items["P\\2"] == {"path": "\\\\server\\share", "note": "line\nbreak", "json": "\\N"}


def httpx_multipart(content: bytes, project: str) -> tuple[bytes, str]:
    """A multipart upload body and its Content-Type, built the way httpx builds it."""
    request = httpx.Request(
        "POST",
        "http://x/",
        files={"file": ("big.csv", content, "text/csv")},
        data={"project_id": project},
    )
    return request.read(), request.headers["Content-Type"]
