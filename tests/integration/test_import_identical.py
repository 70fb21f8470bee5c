"""The chunked ledger of an applied import and the identical re-import's fast path, end to end
on a real worker: created assets listed with the values they were created with, in row order
among updated and skipped rows; their history and undo; the fast path taken only when nothing
can have changed (another import, a rule `set`, an undo all send the next import the normal
way), with the same counts as the normal path."""

from __future__ import annotations

from typing import Any

from tests.integration.test_import_ledger import (
    all_assets,
    base_rows,
    changes,
    get,
    post,
    project,
    rows_csv,
)
from tests.support.system import System


def logs(system: System, job_id: str) -> list[str]:
    return [x["message"] for x in get(system, f"/api/v1/jobs/{job_id}/logs", limit=1000)["items"]]


def counts(job: dict[str, Any]) -> tuple[int, int, int, int]:
    r = job["result"]
    return r["created_count"], r["updated_count"], r["unchanged_count"], r["total_rows"]


def imported(system: System, data: bytes, key: str, **form: str) -> dict[str, Any]:
    job = system.import_csv(data, project=key, **form)
    assert job["state"] == "SUCCESS", job
    return job


def test_identical_reimport_takes_the_fast_path(system: System) -> None:
    key = project()
    data = rows_csv(base_rows(2_500))
    first = imported(system, data, key)
    assert counts(first) == (2_500, 0, 0, 2_500)
    assert "identical_to" not in first["result"]
    ledger = get(system, f"/api/v1/jobs/{first['id']}/changes", limit=1)["counts"]
    assert ledger == {"created": 2_500, "updated": 0, "unchanged": 0, "skipped": 0}

    second = imported(system, data, key)
    assert second["result"]["identical_to"] == first["id"]
    assert counts(second) == (0, 0, 2_500, 2_500)
    assert "2,500 unchanged" in second["result"]["summary"]
    said = [line for line in logs(system, second["id"]) if "identical to import" in line]
    assert said and first["id"] in said[0] and "no asset changed since" in said[0], said
    ledger = get(system, f"/api/v1/jobs/{second['id']}/changes", limit=1)["counts"]
    assert ledger == {"created": 0, "updated": 0, "unchanged": 2_500, "skipped": 0}
    same = changes(system, second["id"], "unchanged")
    assert [(c["row"], c["tag"]) for c in same] == [(i + 2, f"T-{i:05d}") for i in range(2_500)]

    third = imported(system, data, key)  # identical to the last applied import: the second
    assert third["result"]["identical_to"] == second["id"]
    assert counts(third) == (0, 0, 2_500, 2_500)

    # Another mapping is another import: the normal path, and the same counts.
    mapped = imported(system, data, key, mapping='{"area": null}')
    assert "identical_to" not in mapped["result"]
    assert counts(mapped) == (0, 0, 2_500, 2_500)
    # A preview is never the fast path, and is not the last applied import either.
    preview = imported(system, data, key, mode="preview")
    assert "identical_to" not in preview["result"]
    again = imported(system, data, key, mapping='{"area": null}')
    assert again["result"]["identical_to"] == mapped["id"]


def test_a_change_since_sends_the_reimport_the_normal_way(system: System) -> None:
    key = project()
    rows = base_rows(1_200)
    data = rows_csv(rows)
    imported(system, data, key)
    assert imported(system, data, key)["result"].get("identical_to")

    # Another import changes one asset: the same file again updates it back.
    one = rows_csv([{"tag": "T-00007", "type": "Pump", "power_kw": "99", "area": "Z"}])
    imported(system, one, key)
    back = imported(system, data, key)
    assert "identical_to" not in back["result"]
    assert counts(back) == (0, 1, 1_199, 1_200)
    assert imported(system, data, key)["result"].get("identical_to") == back["id"]

    # A rule run sets a property on some assets: the next import compares.
    with system.client() as client:
        rule = {
            "name": "area code",
            "applies_to": ["Motor"],
            "condition": "power_kw > 0",
            "action": {"type": "set", "property": "checked", "value": "yes"},
        }
        assert client.post(f"/api/v1/projects/{key}/rules", json=rule).status_code == 201
        run = client.post(f"/api/v1/projects/{key}/rules/run").json()["job_id"]
    assert system.wait_job(run)["state"] == "SUCCESS"
    after_rule = imported(system, data, key)
    assert "identical_to" not in after_rule["result"]
    assert counts(after_rule) == (0, 0, 1_200, 1_200)
    assert imported(system, data, key)["result"].get("identical_to") == after_rule["id"]


def test_an_undo_since_sends_the_reimport_the_normal_way(system: System) -> None:
    key = project()
    data = rows_csv(base_rows(1_100))
    first = imported(system, data, key)
    fast = imported(system, data, key)
    assert fast["result"]["identical_to"] == first["id"]
    accepted = post(system, f"/api/v1/jobs/{first['id']}/undo")
    assert accepted.status_code == 202, accepted.text
    undo = system.wait_job(accepted.json()["job_id"])
    assert undo["state"] == "SUCCESS", undo
    assert undo["result"]["deleted_count"] == 1_100
    assert all_assets(system, key) == {}
    again = imported(system, data, key)
    assert "identical_to" not in again["result"]
    assert counts(again) == (1_100, 0, 0, 1_100)

    # The history of an asset created, deleted by the undo and created again.
    history = get(system, f"/api/v1/projects/{key}/assets/T-00003/history")
    assert history["total"] == 3
    items = history["items"]
    assert [h["action"] for h in items] == ["created", "deleted", "created"]
    assert [h["job_id"] for h in items] == [again["id"], undo["id"], first["id"]]
    assert items[2]["changes"]["power_kw"] == {"old": None, "new": "4"}
    assert items[2]["row"] == 5 and items[0]["row"] == 5


def test_created_assets_list_with_the_values_they_were_created_with(system: System) -> None:
    key = project()
    rows = base_rows(2_300)
    first = imported(system, rows_csv(rows), key)
    changed = [dict(r) for r in rows[:3]]
    changed[1]["power_kw"] = "777"
    changed[2]["type"] = "Compressor"
    imported(system, rows_csv(changed), key)

    created = changes(system, first["id"], "created")
    assert [(c["row"], c["tag"]) for c in created] == [(i + 2, f"T-{i:05d}") for i in range(2_300)]
    assert created[1]["changes"] == {
        "type": {"old": None, "new": rows[1]["type"]},
        "power_kw": {"old": None, "new": rows[1]["power_kw"]},
        "area": {"old": None, "new": rows[1]["area"]},
    }
    assert created[2]["changes"]["type"] == {"old": None, "new": rows[2]["type"]}
    history = get(system, f"/api/v1/projects/{key}/assets/T-00001/history")["items"]
    assert [h["action"] for h in history] == ["updated", "created"]
    assert history[1]["changes"]["power_kw"] == {"old": None, "new": rows[1]["power_kw"]}
    assert history[1]["job_id"] == first["id"] and history[1]["at"]

    # Created, updated and skipped rows of one import list by row, page by page.
    mixed = [dict(r) for r in rows[:1_500]]
    for i in range(0, 1_500, 7):
        mixed[i]["power_kw"] = "5000"
    for i in range(3, 1_500, 11):
        mixed[i]["tag"] = f"N-{i:05d}"  # new assets
    mixed[4]["type"] = ""  # invalid: skipped
    mixed[1_204]["type"] = ""
    job = imported(system, rows_csv(mixed), key, skip_invalid="true")
    c, u, _same, total = counts(job)
    assert total == 1_500 and job["result"]["skipped_count"] == 2
    whole = changes(system, job["id"])
    others = [x for x in whole if x["action"] != "unchanged"]
    assert [x["row"] for x in others] == sorted(x["row"] for x in others)
    assert len(others) == c + u + 2 and len(whole) == total
    by_action = {a: [x for x in others if x["action"] == a] for a in ("created", "updated")}
    assert len(by_action["created"]) == c and len(by_action["updated"]) == u
    assert by_action["created"][0]["changes"]["power_kw"]["old"] is None
    paged: list[dict[str, Any]] = []
    for offset in range(0, len(others), 97):
        page = get(system, f"/api/v1/jobs/{job['id']}/changes", limit=97, offset=offset)
        paged += [x for x in page["items"] if x["action"] != "unchanged"]
    assert paged == others
