"""Rules end to end: HTTP → real worker (bulk queue) → findings and derived properties."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

from sqlalchemy import func, select

from synapse.db.engine import session_scope
from synapse.db.models import Asset, Finding, Project
from tests.support.csvdata import TYPES, assets_csv
from tests.support.system import System
from tests.support.waiting import wait_for


def project() -> str:
    return f"rules-{uuid.uuid4().hex[:8]}"


def flag(severity: str, message: str) -> dict[str, Any]:
    return {"type": "flag", "severity": severity, "message": message}


def sets(prop: str, value: Any) -> dict[str, Any]:
    return {"type": "set", "property": prop, "value": value}


# Ten rules over assets_csv: power_kw = i % 90 + 1 (as text), area = A{i % 7},
# description = "item {i}", type = TYPES[i % 4]; no range_max and no stroke_mm anywhere.
RULES: list[dict[str, Any]] = [
    {"name": "big motors need a VFD", "applies_to": ["Motor"], "condition": "power_kw > 50",
     "action": flag("warning", "{tag}: {power_kw} kW needs a VFD")},
    {"name": "requires_vfd", "applies_to": ["Motor"], "condition": "power_kw > 50",
     "action": sets("requires_vfd", True)},
    {"name": "large pumps", "applies_to": ["Pump"], "condition": "power_kw >= 75",
     "action": flag("info", "{tag} is a large pump")},
    {"name": "small loads", "applies_to": [], "condition": "power_kw < 3",
     "action": flag("info", "{tag}: {power_kw} kW")},
    {"name": "area A3 instruments", "applies_to": [],
     "condition": "area == 'A3' and type in ['Valve', 'Transmitter']",
     "action": flag("warning", "{tag} in {area}")},
    {"name": "transmitter range", "applies_to": ["Transmitter"],
     "condition": "not has('range_max')", "action": flag("error", "{tag} has no range")},
    {"name": "vfd model", "applies_to": ["Motor"],
     "condition": "get('requires_vfd') == true and not has('vfd_model')",
     "action": flag("warning", "{tag} needs a VFD model")},
    {"name": "valve stroke", "applies_to": ["Valve"], "condition": "stroke_mm > 10",
     "action": flag("info", "{tag} has a long stroke")},
    {"name": "heavy duty", "applies_to": ["Pump"], "condition": "power_kw >= 30",
     "action": sets("duty", "heavy")},
    {"name": "nines", "applies_to": [],
     "condition": "'9' in description and power_kw * 2 > 170",
     "action": flag("info", "{tag}: {description}")},
]  # fmt: skip


def expected(rows: int) -> tuple[Counter[str], Counter[str], int, int]:
    """Findings by severity and by rule, motors over 50 kW and pumps of 30 kW or more."""
    by_severity: Counter[str] = Counter()
    by_rule: Counter[str] = Counter()
    vfd = heavy = 0
    for i in range(rows):
        kind, kw, area, text = TYPES[i % 4], i % 90 + 1, f"A{i % 7}", f"item {i}"
        found = []
        if kind == "Motor" and kw > 50:
            found += [("big motors need a VFD", "warning"), ("vfd model", "warning")]
            vfd += 1
        if kind == "Pump" and kw >= 75:
            found.append(("large pumps", "info"))
        heavy += kind == "Pump" and kw >= 30
        if kw < 3:
            found.append(("small loads", "info"))
        if area == "A3" and kind in ("Valve", "Transmitter"):
            found.append(("area A3 instruments", "warning"))
        if kind == "Transmitter":
            found.append(("transmitter range", "error"))
        if kind == "Valve":  # no stroke_mm: an error finding for each valve
            found.append(("valve stroke", "error"))
        if "9" in text and kw * 2 > 170:
            found.append(("nines", "info"))
        for name, severity in found:
            by_rule[name] += 1
            by_severity[severity] += 1
    return by_severity, by_rule, vfd, heavy


def create_rules(system: System, key: str, rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    created = []
    with system.client() as client:
        for body in rules:
            response = client.post(f"/api/v1/projects/{key}/rules", json=body)
            assert response.status_code == 201, response.text
            created.append(response.json())
    return created


def run(system: System, key: str, timeout: float = 120) -> dict[str, Any]:
    with system.client() as client:
        response = client.post(f"/api/v1/projects/{key}/rules/run")
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "QUEUED"
    job = system.wait_job(response.json()["job_id"], timeout=timeout)
    assert job["state"] == "SUCCESS", job
    return job


def findings(system: System, key: str, **params: Any) -> dict[str, Any]:
    with system.client() as client:
        response = client.get(f"/api/v1/projects/{key}/findings", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def stored(system: System, key: str) -> tuple[int, Counter[str], int, int]:
    """Findings in the database, by job; motors with requires_vfd; heavy-duty pumps."""
    with session_scope(system.settings) as session:
        pid = session.scalar(select(Project.id).where(Project.key == key))
        jobs = Counter(
            str(j) for j in session.scalars(select(Finding.job_id).where(Finding.project_id == pid))
        )
        props = session.scalars(select(Asset.properties).where(Asset.project_id == pid)).all()
        count = session.scalar(select(func.count()).select_from(Finding)) or 0
    vfd = sum(1 for p in props if p.get("requires_vfd") is True)
    heavy = sum(1 for p in props if p.get("duty") == "heavy")
    return count, jobs, vfd, heavy


def test_ten_rules_over_ten_thousand_assets(system: System) -> None:
    key, rows = project(), 10_000
    assert system.import_csv(assets_csv(rows), project=key)["state"] == "SUCCESS"
    create_rules(system, key, RULES)
    by_severity, by_rule, vfd, heavy = expected(rows)

    job = run(system, key)
    result = job["result"]
    assert job["queue"] == "bulk" and job["type"] == "run_rules"
    assert result["findings"] == {s: by_severity[s] for s in ("error", "warning", "info")}
    assert result["assets"] == rows and result["rules"] == 10
    assert result["properties_set"] == vfd + heavy
    assert (job["current"], job["total"], job["percent"]) == (rows, rows, 100)
    listed = findings(system, key, limit=1000)
    assert listed["total"] == sum(by_severity.values()) and len(listed["items"]) == 1000
    assert listed["totals"] == result["findings"]
    assert listed["items"][0]["severity"] == "error"
    assert set(listed["items"][0]) >= {"rule_id", "rule_name", "asset_tag", "severity", "message"}
    for name, count in by_rule.items():
        assert findings(system, key, rule=name, limit=1)["total"] == count, name
    before, jobs, got_vfd, got_heavy = stored(system, key)
    assert (got_vfd, got_heavy) == (vfd, heavy)
    assert jobs == {job["id"]: sum(by_severity.values())}
    motor = findings(system, key, tag="P-000088", rule="big motors need a VFD")["items"]
    assert [f["message"] for f in motor] == ["P-000088: 89 kW needs a VFD"]

    second = run(system, key)
    assert second["result"]["findings"] == result["findings"]
    assert second["result"]["properties_set"] == 0  # already set: nothing to change
    after, jobs, got_vfd, _ = stored(system, key)
    assert after == before and jobs == {second["id"]: sum(by_severity.values())}
    assert got_vfd == vfd


def test_an_import_applies_the_rules_to_its_rows(system: System) -> None:
    key = project()
    create_rules(system, key, [*RULES[:2], RULES[5]])
    job = system.import_csv(assets_csv(400), project=key)
    assert job["state"] == "SUCCESS", job
    big_motors = expected(400)[2]
    result = job["result"]
    assert result["findings"] == {"error": 100, "warning": big_motors, "info": 0}
    assert result["summary"].endswith(f"; findings: 100 error, {big_motors} warning, 0 info")
    assert findings(system, key)["totals"] == result["findings"]
    assert {f["rule_name"] for f in findings(system, key, limit=1000)["items"]} == {
        "big motors need a VFD",
        "transmitter range",
    }
    assert stored(system, key)[2] == big_motors

    # An update of 4 rows: only their findings are replaced; the others stay as they were.
    # P-000056 (57 kW) drops below 50 kW, P-000004 goes above; P-000002 is no longer a
    # transmitter, P-000999 is a new one.
    update = b"tag,type,power_kw\nP-000056,Motor,10\nP-000004,Motor,99\nP-000002,Valve,5\n"
    update += b"P-000999,Transmitter,7\n"
    second = system.import_csv(update, project=key)
    assert second["state"] == "SUCCESS", second
    assert second["result"]["findings"] == {"error": 1, "warning": 1, "info": 0}
    _, jobs, vfd, _ = stored(system, key)
    assert jobs == {job["id"]: 100 + big_motors - 2, second["id"]: 2}
    assert vfd == big_motors  # P-000056's requires_vfd went with its re-import; P-000004 has it
    stale = findings(system, key, tag="P-000004")["items"]
    assert [(f["rule_name"], f["message"]) for f in stale] == [
        ("big motors need a VFD", "P-000004: 99 kW needs a VFD")
    ]

    plain = project()  # a project without rules: the import says so with zero findings
    quiet = system.import_csv(assets_csv(10), project=plain)
    assert quiet["result"]["findings"] == {"error": 0, "warning": 0, "info": 0}
    dry = system.import_csv(assets_csv(10), project=key, mode="dry_run")
    assert "findings" not in dry["result"]


def test_rules_api(system: System) -> None:
    key = project()
    with system.client() as client:
        base = f"/api/v1/projects/{key}/rules"
        bad = client.post(base, json={**RULES[0], "condition": "power_kw >"})
        assert bad.status_code == 422
        assert bad.json()["detail"] == (
            "condition: the expression ends too early at column 11: power_kw >"
        )
        escape = client.post(base, json={**RULES[0], "condition": "().__class__"})
        assert escape.status_code == 422 and "attribute access" in escape.json()["detail"]
        call = client.post(base, json={**RULES[0], "condition": "__import__('os')"})
        assert call.status_code == 422 and "unknown function '__import__'" in call.text
        shape = client.post(base, json={**RULES[0], "action": {"type": "explode"}})
        assert shape.status_code == 422 and shape.json()["detail"].startswith("invalid rule: ")

        created = client.post(base, json=RULES[0])
        assert created.status_code == 201, created.text
        rule = created.json()
        assert {k: rule[k] for k in ("name", "applies_to", "condition", "action")} == RULES[0]
        assert rule["enabled"] is True and rule["project_id"] == key
        assert client.post(base, json=RULES[0]).status_code == 409

        changed = client.put(f"{base}/{rule['id']}", json={"condition": "power_kw > 80"})
        assert changed.status_code == 200 and changed.json()["condition"] == "power_kw > 80"
        refused = client.put(f"{base}/{rule['id']}", json={"condition": "power_kw >> > 1"})
        assert refused.status_code == 422 and "column 13" in refused.json()["detail"]
        assert client.get(f"{base}/{rule['id']}").json()["condition"] == "power_kw > 80"
        listed = client.get(base).json()
        assert listed["total"] == 1 and listed["items"][0]["id"] == rule["id"]

        system.import_csv(assets_csv(100), project=key)
        assert findings(system, key)["total"] == 3  # motors P-000080, 84 and 88: 81-89 kW
        assert client.delete(f"{base}/{rule['id']}").status_code == 204
        assert findings(system, key)["total"] == 0
        assert client.delete(f"{base}/{rule['id']}").status_code == 404
        assert client.get(f"/api/v1/projects/{key}/findings?severity=fatal").status_code == 422
        missing = "/api/v1/projects/no-such-project"
        assert client.post(f"{missing}/rules/run").status_code == 404
        assert client.get(f"{missing}/findings").status_code == 404
        assert client.get(f"{missing}/rules").status_code == 404
        urgent = client.post(f"/api/v1/projects/{key}/rules/run", json={"priority": "urgent"})
        assert urgent.status_code == 202
    job = system.wait_job(urgent.json()["job_id"])
    assert job["queue"] == "urgent" and job["result"]["rules"] == 0


def test_cancel_of_a_running_rules_job_keeps_the_previous_findings(system: System) -> None:
    key = project()
    for part in range(6):  # 60,000 assets, in uploads under the test systems' 2 MB limit
        job = system.import_csv(assets_csv(10_000, start=part * 10_000), project=key)
        assert job["state"] == "SUCCESS", job
    # Rules over the nearly unique descriptions: every asset is evaluated, none remembered,
    # so the run lasts long enough (seconds) to be cancelled in the middle.
    slow = [
        {
            "name": f"description {n}",
            "condition": f"len(description) > {n} or '{n}x' in lower(description)",
            "action": flag("info", "{tag}"),
        }
        for n in (40, 50, 60)
    ]
    create_rules(system, key, [*RULES, *slow])
    first = run(system, key)
    with system.client() as client:
        job_id = client.post(f"/api/v1/projects/{key}/rules/run").json()["job_id"]
        wait_for(
            lambda: (job := system.job(job_id))["state"] == "RUNNING" and job["current"] > 0,
            timeout=60,
            interval=0.02,
            what="the rules job to evaluate its first assets",
        )
        assert client.post(f"/api/v1/jobs/{job_id}/cancel").status_code == 200
    cancelled = system.wait_job(job_id)
    assert cancelled["state"] == "CANCELLED", cancelled
    assert 0 < cancelled["current"] < 60_000
    _, jobs, _, _ = stored(system, key)
    assert jobs == {first["id"]: first["result"]["findings_total"]}
