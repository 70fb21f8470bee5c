"""The engineer's workspace in a real browser (Debian's chromium driven by Playwright), against
`synapse up`: a rule written with a mistake shows the problem where it is, is fixed, saved and
run from the Rules page, and its findings are one click away; findings filtered, paged, linked to
their assets and exported as .xlsx; a package generated from the Packages page and its files
downloaded."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest

from tests.e2e.conftest import UpInstance, call, finished, shot, start
from tests.support.csvdata import assets_csv

pytest.importorskip("playwright")
from playwright.sync_api import Page, expect

FINDINGS = "#finding-rows tbody tr.sev-row"


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpInstance]:
    instance = start(tmp_path_factory.mktemp("workspace-ui"), "ui")
    yield instance
    instance.stop(signal.SIGTERM)


def project_with_assets(ui: UpInstance, project: str, rows: int) -> None:
    files = {"file": ("plant.csv", assets_csv(rows), "text/csv")}
    accepted = call(ui, "POST", "/ingestion/upload-csv", files=files, data={"project_id": project})
    finished(ui, accepted["job_id"])


def flag(severity: str, message: str) -> dict[str, str]:
    return {"type": "flag", "severity": severity, "message": message}


def test_a_rule_with_a_mistake_is_fixed_saved_and_run_from_the_page(
    ui: UpInstance, page: Page
) -> None:
    project = "plant-r"
    project_with_assets(ui, project, 120)
    spare_rule = {"name": "spare rule", "condition": "len(tag) > 100", "action": flag("info", "t")}
    spare = call(ui, "POST", f"/projects/{project}/rules", json=spare_rule)
    page.goto(f"{ui.base_url}/rules?project={project}")
    expect(page.locator("#rule-rows tbody tr")).to_have_count(1)

    # The mistake: '=' where '==' was meant; the problem is marked at column 6, as one types.
    page.fill("input[name=name]", "Large motors need a VFD")
    page.fill("input[name=applies_to]", "Motor")
    page.fill("#condition", 'type = "Motor" and power_kw > 50 and not has("vfd")')
    check = page.locator("#cond-check")
    expect(check.locator(".problem")).to_contain_text("column 6: '=' assigns; compare with '=='")
    expect(check).to_have_attribute("data-column", "6")
    expect(check.locator(".src .at")).to_have_text("=")
    # The caret stands under column 6, the problem beside it.
    assert check.locator("pre.caret").inner_text().startswith(" " * 5 + "^ column 6: ")
    expect(page.locator("#condition")).to_have_attribute("aria-invalid", "true")
    shot(page, "rules.png")

    # Saving it anyway is refused with the same words, beside the form.
    page.fill("input[name=message]", "{tag} draws {power_kw} kW and has no VFD")
    page.click("#save-rule")
    expect(page.locator("#form-error")).to_contain_text("Not saved: condition: '=' assigns")

    # Fixed: the check says so; saved: the rule is in the table.
    page.fill("#condition", 'type == "Motor" and power_kw > 50 and not has("vfd")')
    expect(check.locator(".ok")).to_contain_text("The condition is valid")
    page.click("#save-rule")
    row = page.locator("#rule-rows tbody tr", has_text="Large motors need a VFD")
    expect(row).to_be_visible()
    expect(page.locator("#editor-title")).to_have_text("New rule")

    # Disable and enable again; delete the spare rule (asked inline first).
    row.locator("button.toggle").click()
    expect(row.locator(".badge")).to_have_text("disabled")
    row.locator("button.toggle").click()
    expect(row.locator(".badge")).to_have_text("enabled")
    spare_row = page.locator(f"#rule-{spare['id']}")
    spare_row.locator("button.delete").click()
    ask = page.locator("#rule-rows tr.confirm")
    expect(ask).to_contain_text("Delete the rule “spare rule”")
    ask.locator("button", has_text="Delete rule").click()
    expect(spare_row).to_have_count(0)

    # Run from the page, followed live; the findings are a click away.
    page.click("#run-rules")
    expect(page.locator("#run-progress .state")).to_have_text("success", timeout=30_000)
    warnings = call(ui, "GET", f"/projects/{project}/findings", params={"severity": "warning"})
    assert warnings["total"] > 0
    link = page.locator("#run-result .findings-links a", has_text="warning")
    expect(link).to_have_text(f"{warnings['total']} warning")
    expect(row.locator("a.findings-link")).to_have_text(f"{warnings['total']} warning")
    expect(page.locator("#run-rules")).to_be_enabled()
    shot(page, "rules-run.png")

    # The run's job page links to the same findings.
    page.locator("#run-result a[href^='/jobs/']").click()
    job_link = page.locator("#job-body .findings-links a", has_text="warning")
    expect(job_link).to_have_text(f"{warnings['total']} warning")
    job_link.click()
    expect(page).to_have_url(f"{ui.base_url}/findings?project={project}&severity=warning")
    expect(page.locator(FINDINGS)).to_have_count(warnings["total"])


def test_findings_are_filtered_paged_linked_and_exported(
    ui: UpInstance, page: Page, tmp_path: Path
) -> None:
    project = "plant-f"
    project_with_assets(ui, project, 240)
    rules = [
        {"name": "big motors", "applies_to": ["Motor"], "condition": "power_kw > 50",
         "action": flag("warning", "{tag}: {power_kw} kW needs a VFD")},
        {"name": "=transmitter range", "applies_to": ["Transmitter"],
         "condition": "not has('range_max')", "action": flag("error", "=HYPERLINK(\"x\") {tag}")},
        {"name": "small loads", "condition": "power_kw < 3",
         "action": flag("info", "+{tag} small")},
    ]  # fmt: skip
    for rule in rules:
        call(ui, "POST", f"/projects/{project}/rules", json=rule)
    finished(ui, call(ui, "POST", f"/projects/{project}/rules/run")["job_id"])
    every = call(ui, "GET", f"/projects/{project}/findings", params={"limit": 1000})
    errors = [f for f in every["items"] if f["severity"] == "error"]
    assert len(errors) > 50  # more than a page

    page.goto(f"{ui.base_url}/findings?project={project}")
    for severity, n in every["totals"].items():
        expect(page.locator(f".totals .tile[data-count={severity}] .n")).to_have_text(str(n))
    expect(page.locator(".totals .tile[data-count=all] .n")).to_have_text(str(every["total"]))
    shot(page, "findings.png")

    # Severity chosen: applied at once; paged by 50.
    page.select_option("select[name=severity]", "error")
    expect(page).to_have_url(f"{ui.base_url}/findings?project={project}&severity=error")
    expect(page.locator(FINDINGS)).to_have_count(50)
    expect(page.locator("#findings-pager .range")).to_have_text(f"1–50 of {len(errors)}")
    page.click("#findings-pager a[rel=next]")
    expect(page.locator(FINDINGS)).to_have_count(len(errors) - 50)
    page.click("#findings-pager a[rel=prev]")

    # Rule and type as well; the tag filter narrows to one asset.
    page.select_option("select[name=type]", "Transmitter")
    expect(page.locator(FINDINGS).first).to_contain_text("=transmitter range")
    page.select_option("select[name=severity]", "")
    page.select_option("select[name=rule]", "big motors")
    motors = [f for f in every["items"] if f["rule_name"] == "big motors"]
    expect(page.locator(FINDINGS)).to_have_count(0)  # no motor is a Transmitter
    page.select_option("select[name=type]", "")
    expect(page.locator(FINDINGS)).to_have_count(len(motors))

    # The export has exactly the rows the filters select, as text.
    page.select_option("select[name=rule]", "")
    page.select_option("select[name=severity]", "error")
    expect(page.locator("#findings-pager .range")).to_have_text(f"1–50 of {len(errors)}")
    with page.expect_download() as download:
        page.click("#export")
    saved = tmp_path / "findings.xlsx"
    download.value.save_as(saved)
    assert download.value.suggested_filename == f"findings-{project}.xlsx"
    book = openpyxl.load_workbook(saved)
    sheet = book["Findings"]
    assert not [c.coordinate for r in sheet.iter_rows() for c in r if c.data_type == "f"]
    header, *rows = list(sheet.iter_rows(values_only=True))
    assert header[:5] == ("Severity", "Rule", "Tag", "Type", "Message")
    assert [(r[0], r[1], r[2], r[4]) for r in rows] == [
        (f["severity"], f["rule_name"], f["asset_tag"], f["message"]) for f in errors
    ]
    assert {r[3] for r in rows} == {"Transmitter"}
    assert str(rows[0][4]).startswith('=HYPERLINK("x") ')

    # Each finding links to its asset's page.
    first = page.locator("#finding-rows tbody tr td.tag a").first
    tag = first.inner_text()
    first.click()
    expect(page).to_have_url(f"{ui.base_url}/assets/{tag}?project={project}")
    expect(page.locator("h1")).to_contain_text(tag)


def test_a_package_is_generated_and_its_files_downloaded(
    ui: UpInstance, page: Page, tmp_path: Path
) -> None:
    project = "plant-p"
    project_with_assets(ui, project, 24)
    page.goto(f"{ui.base_url}/packages?project={project}")
    expect(page.locator("#package-rows tbody tr.none")).to_have_count(1)
    page.check("input[name=asset_types][value=Motor]")
    page.check("input[name=asset_types][value=Pump]")
    page.fill("input[name=title]", "Issued for review")
    page.fill("input[name=revision]", "B")
    page.click("#generate")
    expect(page.locator("#package-progress .state")).to_have_text("success", timeout=60_000)
    links = page.locator("#package-result a.file")
    expect(links).to_have_count(2)
    expect(page.locator("#package-result .outcome")).to_have_text("Revision B is ready.")

    got: dict[str, Path] = {}
    for i in range(2):
        with page.expect_download() as download:
            links.nth(i).click()
        path = tmp_path / download.value.suggested_filename
        download.value.save_as(path)
        got[path.suffix] = path
    assert got[".pdf"].read_bytes().startswith(b"%PDF")
    assert "Summary" in openpyxl.load_workbook(got[".xlsx"]).sheetnames

    # Earlier packages: this one, newest first, with its revision, title, size and files.
    earlier = page.locator("#package-rows tbody tr").first
    expect(earlier.locator("td.rev")).to_have_text("B")
    expect(earlier).to_contain_text("Issued for review")
    expect(earlier.locator("a.file")).to_have_count(2)
    shot(page, "packages.png")

    # Its job page leads back to the project's packages.
    earlier.locator("a.mono").click()
    page.locator("#job-body a", has_text=f"Packages of {project}").click()
    expect(page).to_have_url(f"{ui.base_url}/packages?project={project}")
