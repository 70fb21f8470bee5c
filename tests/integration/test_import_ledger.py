"""Imports people can trust, end to end on a real worker: preview, commit, the ledger, undo,
asset history, identical re-imports and the point of no return of a cancel."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

from tests.support.csvdata import TYPES
from tests.support.system import System


def project() -> str:
    return f"led-{uuid.uuid4().hex[:8]}"


def rows_csv(rows: list[dict[str, str]]) -> bytes:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue().encode()


def base_rows(n: int) -> list[dict[str, str]]:
    return [
        {"tag": f"T-{i:05d}", "type": TYPES[i % 4], "power_kw": str(i % 90 + 1),
         "area": f"A{i % 7}"}
        for i in range(n)
    ]  # fmt: skip


def get(system: System, path: str, **params: Any) -> Any:
    with system.client() as client:
        response = client.get(path, params=params)
        assert response.status_code == 200, response.text
        return response.json()


def post(system: System, path: str, body: Any = None) -> Any:
    with system.client() as client:
        return client.post(path, json=body)


def all_assets(system: System, key: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    offset = 0
    while True:
        page = get(system, f"/api/v1/projects/{key}/assets", limit=1000, offset=offset)
        for item in page["items"]:
            found[item["tag"]] = {"type": item["type"], "properties": item["properties"]}
        offset += 1000
        if offset >= page["total"]:
            return found


def changes(system: System, job_id: str, action: str | None = None) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    offset = 0
    while True:
        params: dict[str, Any] = {"limit": 1000, "offset": offset}
        if action:
            params["action"] = action
        page = get(system, f"/api/v1/jobs/{job_id}/changes", **params)
        items += page["items"]
        offset += 1000
        if offset >= page["total"]:
            return items


def edited(
    rows: list[dict[str, str]], changed: int, added: int, start: int | None = None
) -> list[dict[str, str]]:
    """Change power_kw of the first `changed` rows and the type of every 10th; add rows."""
    out = [dict(r) for r in rows]
    for i in range(changed):
        out[i]["power_kw"] = str(int(out[i]["power_kw"]) + 1000)
        if i % 10 == 0:
            out[i]["type"] = "Compressor"
    start = int(rows[-1]["tag"][2:]) + 1 if start is None else start
    out += [
        {"tag": f"T-{i:05d}", "type": "Fan", "power_kw": "3", "area": "N"}
        for i in range(start, start + added)
    ]
    return out


def test_preview_commit_undo_round_trip(system: System) -> None:
    key = project()
    rows = base_rows(20_000)
    first = system.import_csv(rows_csv(rows), project=key)
    assert first["state"] == "SUCCESS", first
    assert first["result"]["created_count"] == 20_000
    before = all_assets(system, key)

    # The file leaves out 500 assets, changes 1,000 and adds 500: 20,000 rows.
    new_rows = edited(rows[:19_500], changed=1_000, added=500, start=20_000)
    preview = system.import_csv(rows_csv(new_rows), project=key, mode="preview")
    assert preview["state"] == "SUCCESS", preview
    r = preview["result"]
    assert (r["created_count"], r["updated_count"], r["unchanged_count"]) == (500, 1_000, 18_500)
    assert all_assets(system, key) == before  # nothing written
    counts = get(system, f"/api/v1/jobs/{preview['id']}/changes", limit=1)["counts"]
    assert counts == {"created": 500, "updated": 1_000, "unchanged": 18_500, "skipped": 0}
    assert len(changes(system, preview["id"], "updated")) == 1_000
    updated = {c["tag"]: c["changes"] for c in changes(system, preview["id"], "updated")}
    assert updated["T-00000"] == {
        "type": {"old": "Motor", "new": "Compressor"},
        "power_kw": {"old": "1", "new": "1001"},
    }
    assert updated["T-00001"] == {"power_kw": {"old": "2", "new": "1002"}}
    created = changes(system, preview["id"], "created")
    assert created[0]["changes"]["type"] == {"old": None, "new": "Fan"}

    accepted = post(system, f"/api/v1/jobs/{preview['id']}/commit")
    assert accepted.status_code == 202, accepted.text
    commit = system.wait_job(accepted.json()["job_id"])
    assert commit["state"] == "SUCCESS", commit
    c = commit["result"]
    assert (c["created_count"], c["updated_count"], c["unchanged_count"]) == (500, 1_000, 18_500)
    after = all_assets(system, key)
    assert len(after) == 20_500 and after["T-19999"] == before["T-19999"]
    for item in changes(system, commit["id"], "updated"):  # exactly what the preview showed
        assert item["changes"] == updated[item["tag"]]
        assert after[item["tag"]]["properties"]["power_kw"] == item["changes"]["power_kw"]["new"]
    assert after["T-00000"] == {
        "type": "Compressor",
        "properties": {"power_kw": "1001", "area": "A0"},
    }
    again = post(system, f"/api/v1/jobs/{preview['id']}/commit")
    assert again.status_code == 409 and commit["id"] in again.json()["detail"]

    # A later job changes one asset the import updated: undo leaves it alone and lists it.
    later = system.import_csv(
        rows_csv([{"tag": "T-00005", "type": "Pump", "power_kw": "7", "area": "Z"}]), project=key
    )
    assert later["result"]["updated_count"] == 1
    accepted = post(system, f"/api/v1/jobs/{commit['id']}/undo")
    assert accepted.status_code == 202, accepted.text
    undo = system.wait_job(accepted.json()["job_id"])
    assert undo["state"] == "SUCCESS", undo
    u = undo["result"]
    assert (u["deleted_count"], u["restored_count"], u["conflict_count"]) == (500, 999, 1)
    assert u["conflicts"][0]["tag"] == "T-00005" and later["id"] in u["conflicts"][0]["reason"]
    restored = all_assets(system, key)
    assert len(restored) == 20_000
    for tag, values in before.items():
        if tag == "T-00005":
            assert restored[tag]["properties"]["area"] == "Z"
        else:
            assert restored[tag] == values, tag

    twice = post(system, f"/api/v1/jobs/{commit['id']}/undo")
    assert twice.status_code == 409 and undo["id"] in twice.json()["detail"]
    of_undo = post(system, f"/api/v1/jobs/{undo['id']}/undo")
    assert of_undo.status_code == 409 and "itself an undo" in of_undo.json()["detail"]
    of_preview = post(system, f"/api/v1/jobs/{preview['id']}/undo")
    assert of_preview.status_code == 409 and "preview" in of_preview.json()["detail"]

    history = get(system, f"/api/v1/projects/{key}/assets/T-00000/history")["items"]
    assert [h["action"] for h in history] == ["restored", "updated", "created"]
    assert [h["job_id"] for h in history] == [undo["id"], commit["id"], first["id"]]
    assert history[0]["changes"]["power_kw"] == {"old": "1001", "new": "1"}
    assert history[2]["changes"]["power_kw"] == {"old": None, "new": "1"}

    imports = get(system, f"/api/v1/projects/{key}/imports")["items"]
    by_id = {i["job_id"]: i for i in imports}
    assert by_id[commit["id"]]["undone_by"] == undo["id"]
    assert by_id[commit["id"]]["can_undo"] is False
    assert by_id[undo["id"]]["undo_of"] == commit["id"]
    assert by_id[later["id"]]["can_undo"] is True


def test_commit_refuses_when_an_asset_changed_since_the_preview(system: System) -> None:
    key = project()
    rows = base_rows(300)
    assert system.import_csv(rows_csv(rows), project=key)["state"] == "SUCCESS"
    preview = system.import_csv(rows_csv(edited(rows, 20, 5)), project=key, mode="preview")
    meanwhile = system.import_csv(
        rows_csv([{"tag": "T-00003", "type": "Pump", "power_kw": "55", "area": "A3"}]),
        project=key,
    )
    assert meanwhile["state"] == "SUCCESS"
    before = all_assets(system, key)
    accepted = post(system, f"/api/v1/jobs/{preview['id']}/commit")
    assert accepted.status_code == 202
    commit = system.wait_job(accepted.json()["job_id"])
    assert commit["state"] == "FAILURE"
    assert "T-00003" in commit["error"] and "nothing was written" in commit["error"]
    assert [c["tag"] for c in commit["result"]["conflicts"]] == ["T-00003"]
    assert all_assets(system, key) == before
    assert get(system, f"/api/v1/jobs/{commit['id']}/changes")["total"] == 0


def test_identical_reimport_is_unchanged_and_writes_nothing(system: System) -> None:
    key = project()
    data = rows_csv(base_rows(1_000))
    first = system.import_csv(data, project=key)
    stamps = {a["tag"]: a["updated_at"] for a in get(
        system, f"/api/v1/projects/{key}/assets", limit=1000)["items"]}  # fmt: skip
    second = system.import_csv(data, project=key)
    r = second["result"]
    assert (r["created_count"], r["updated_count"], r["unchanged_count"]) == (0, 0, 1_000)
    assert "1,000 unchanged" in r["summary"]
    dry = system.import_csv(data, project=key, mode="dry_run")["result"]
    assert (dry["updated_count"], dry["unchanged_count"]) == (0, 1_000)
    same = changes(system, second["id"], "unchanged")
    assert [(c["row"], c["tag"]) for c in same] == [(i + 2, f"T-{i:05d}") for i in range(1_000)]
    page = get(system, f"/api/v1/jobs/{second['id']}/changes", limit=10, offset=995)
    assert page["total"] == 1_000 and [c["row"] for c in page["items"]] == [
        997,
        998,
        999,
        1000,
        1001,
    ]
    after = get(system, f"/api/v1/projects/{key}/assets", limit=1000)["items"]
    assert {a["tag"]: a["updated_at"] for a in after} == stamps  # not written at all
    assert first["id"] != second["id"]


def test_columns_the_file_lacks_are_kept_and_empty_cells_clear(system: System) -> None:
    key = project()
    system.import_csv(b"tag,type,a,b\nX-1,Pump,1,2\n", project=key)
    job = system.import_csv(b"tag,type,a\nX-1,Pump,\n", project=key)
    assert job["result"]["updated_count"] == 1
    assert all_assets(system, key)["X-1"]["properties"] == {"b": "2"}
    only = changes(system, job["id"])
    assert only[0]["changes"] == {"a": {"old": "1", "new": None}}


def test_skipped_rows_are_in_the_ledger_and_retry_imports_the_valid_rows(system: System) -> None:
    key = project()
    data = b"tag,type,p\nS-1,Pump,1\n,Pump,2\nS-3,,3\nS-4,Valve,4\n"
    failed = system.import_csv(data, project=key)
    assert failed["state"] == "FAILURE"
    accepted = post(system, f"/api/v1/jobs/{failed['id']}/retry", {"skip_invalid": True})
    assert accepted.status_code == 202, accepted.text
    retried = system.wait_job(accepted.json()["id"])
    assert retried["state"] == "SUCCESS", retried
    assert retried["result"]["created_count"] == 2
    assert retried["result"]["skipped_count"] == 2
    skipped = changes(system, retried["id"], "skipped")
    assert [(s["row"], s["tag"]) for s in skipped] == [(3, ""), (4, "S-3")]
    bad = post(system, f"/api/v1/jobs/{failed['id']}/retry", {"skip_invalid": "maybe"})
    assert bad.status_code == 422


def test_mapping_is_remembered_per_header(system: System) -> None:
    key = project()
    data = b"Tag No.,Kind of thing,Rated Power [kW],Notes\nM-1,Motor,7.5,x\n"
    mapping = '{"Kind of thing": "type", "Notes": null}'
    job = system.import_csv(data, project=key, mapping=mapping)
    assert job["state"] == "SUCCESS", job
    assert all_assets(system, key)["M-1"] == {
        "type": "Motor",
        "properties": {"rated_power_kw": "7.5"},
    }
    remembered = get(system, f"/api/v1/projects/{key}/mappings")["items"]
    assert remembered[0]["mapping"] == {
        "Tag No.": "tag",
        "Kind of thing": "type",
        "Rated Power [kW]": "prop:rated_power_kw",
        "Notes": None,
    }
    with system.client() as client:
        seen = client.post(
            "/api/v1/ingestion/inspect",
            files={"file": ("again.csv", data, "text/csv")},
            data={"project_id": key},
        )
    assert seen.status_code == 200, seen.text
    body = seen.json()
    assert body["remembered"] is True and body["mapping"] == remembered[0]["mapping"]
    assert body["header_row"] == 1 and body["problem"] is None
    no_type = client_upload(system, key, b"Tag No.,Kind of thing\nM-2,Motor\n")
    assert no_type.status_code == 422 and "type" in no_type.json()["detail"]


def client_upload(system: System, key: str, data: bytes, **form: str) -> Any:
    return system.upload(data, project=key, **form)


def test_a_project_key_with_spaces_around_is_the_same_project(system: System) -> None:
    key = project()
    first = system.import_csv(b"tag,type\nK-1,Pump\n", project=key)
    second = system.import_csv(b"tag,type\nK-2,Pump\n", project=f"  {key} ")
    assert second["project_id"] == first["project_id"] == key
    assert set(all_assets(system, key)) == {"K-1", "K-2"}
