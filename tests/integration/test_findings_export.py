"""The findings .xlsx export and the condition check behind the Rules page, on SQLite and
PostgreSQL: a real worker runs the rules; the export answers the list's filters (and the
asset's type) with text cells only; a member of another project gets 404 for it and its pages."""

from __future__ import annotations

import asyncio
import io
import uuid
import zipfile
from typing import Any

import httpx
import openpyxl

from synapse.api.app import create_app
from tests.support.csvdata import assets_csv
from tests.support.system import System

ADMIN = "adm-export-7c1e2f90"
OUTSIDER = "mem-export-4b9d3a15"


def flag(severity: str, message: str) -> dict[str, str]:
    return {"type": "flag", "severity": severity, "message": message}


def rows_of(content: bytes) -> list[tuple[Any, ...]]:
    book = openpyxl.load_workbook(io.BytesIO(content))
    sheet = book["Findings"]
    assert not [c.coordinate for r in sheet.iter_rows() for c in r if c.data_type == "f"]
    header, *rows = list(sheet.iter_rows(values_only=True))
    assert header == ("Severity", "Rule", "Tag", "Type", "Message", "Job", "Found (UTC)")
    return rows


def listed(system: System, project: str, **params: Any) -> list[tuple[Any, ...]]:
    with system.client() as client:
        r = client.get(f"/api/v1/projects/{project}/findings", params={"limit": 1000, **params})
    r.raise_for_status()
    items = r.json()["items"]
    return [(f["severity"], f["rule_name"], f["asset_tag"], f["message"]) for f in items]


def test_the_export_follows_the_filters_keeps_text_and_hides_other_projects(
    system: System,
) -> None:
    project = f"export-{uuid.uuid4().hex[:8]}"
    assert system.import_csv(assets_csv(60), project=project)["state"] == "SUCCESS"
    rules = [
        {"name": "=risky", "applies_to": ["Transmitter"], "condition": "not has('range_max')",
         "action": flag("error", "=1+1 {tag}")},
        {"name": "big", "applies_to": ["Motor"], "condition": "power_kw > 20",
         "action": flag("warning", "@{tag} is big")},
        {"name": "small", "condition": "power_kw < 5", "action": flag("info", "{tag}")},
    ]  # fmt: skip
    with system.client() as client:
        for rule in rules:
            assert client.post(f"/api/v1/projects/{project}/rules", json=rule).status_code == 201
        run = client.post(f"/api/v1/projects/{project}/rules/run")
        assert system.wait_job(run.json()["job_id"])["state"] == "SUCCESS"

        def export(**params: Any) -> list[tuple[Any, ...]]:
            r = client.get(f"/api/v1/projects/{project}/findings/export.xlsx", params=params)
            assert r.status_code == 200, r.text
            assert r.headers["content-type"].startswith("application/vnd.openxmlformats")
            return rows_of(r.content)

        everything = export()
        assert [(r[0], r[1], r[2], r[4]) for r in everything] == listed(system, project)
        assert {r[0] for r in everything} == {"error", "warning", "info"}
        for params in ({"severity": "error"}, {"severity": "error,info"}, {"rule": "big"},
                       {"tag": everything[0][2]}):  # fmt: skip
            got = [(r[0], r[1], r[2], r[4]) for r in export(**params)]
            assert got == listed(system, project, **params), params
            assert got
        motors = export(type="motor")  # the asset's type, in any case
        assert motors and {r[3] for r in motors} == {"Motor"}
        assert {r[2] for r in motors} < {r[2] for r in everything}

        # Text that starts with = or @ stays text: no formula in the sheet's XML at all.
        r = client.get(f"/api/v1/projects/{project}/findings/export.xlsx")
        risky = [row for row in rows_of(r.content) if row[1] == "=risky"]
        assert risky and all(str(row[4]).startswith("=1+1 ") for row in risky)
        with zipfile.ZipFile(io.BytesIO(r.content)) as z:
            assert b"<f>" not in z.read("xl/worksheets/sheet1.xml")

        bad = client.get(f"/api/v1/projects/{project}/findings/export.xlsx?severity=bogus")
        assert bad.status_code == 422
        missing = client.get(f"/api/v1/projects/nope-{project}/findings/export.xlsx")
        assert missing.status_code == 404

        # The Rules page's check: 200, or 422 with the line and column.
        check = client.post(f"/api/v1/projects/{project}/rules/check",
                            json={"condition": "(power_kw > 5\n and type = 'Motor')"})  # fmt: skip
        assert check.status_code == 422
        assert {k: check.json()[k] for k in ("line", "column")} == {"line": 2, "column": 11}
        ok = client.post(f"/api/v1/projects/{project}/rules/check", json={"condition": "a > 1"})
        assert ok.status_code == 200 and ok.json()["fields"] == ["a"]

    # The same database behind tokens: a member of another project sees none of it.
    tokens = f"{ADMIN}:admin,{OUTSIDER}:member:elsewhere"
    app = create_app(system.settings.model_copy(update={"api_tokens": tokens}))
    try:
        asyncio.run(outsider_sees_nothing(app, project))
    finally:
        app.state.celery.close()


async def outsider_sees_nothing(app: Any, project: str) -> None:
    transport = httpx.ASGITransport(app=app)  # no lifespan: nothing here needs the relay
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        outsider = {"Authorization": f"Bearer {OUTSIDER}"}
        admin = {"Authorization": f"Bearer {ADMIN}"}
        url = f"/api/v1/projects/{project}/findings/export.xlsx"
        assert (await client.get(url, headers=admin)).status_code == 200
        assert (await client.get(url)).status_code == 401
        assert (await client.get(url, headers=outsider)).status_code == 404
        check_url = f"/api/v1/projects/{project}/rules/check"
        refused = await client.post(check_url, json={"condition": "a"}, headers=outsider)
        assert refused.status_code == 404
        for page in ("rules", "findings", "packages"):
            r = await client.get(f"/{page}?project={project}", headers=outsider)
            assert r.status_code == 404, page
            assert "=1+1" not in r.text and "risky" not in r.text
        chooser = await client.get("/findings", headers=outsider)
        assert chooser.status_code == 200 and project not in chooser.text
