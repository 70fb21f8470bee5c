"""The Import, Imports and Assets pages in a real browser (Debian's chromium driven by
Playwright), against `synapse up`: a guided import of a workbook with a title block, its
preview and commit, an undo from the Imports list, an asset's history, and the problems a page
must show in words and keep on screen."""

from __future__ import annotations

import io
import re
import signal
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import xlsxwriter

from tests.e2e.conftest import UpInstance, shot, start
from tests.support.csvdata import assets_csv
from tests.support.waiting import wait_for

pytest.importorskip("playwright")
from playwright.sync_api import Browser, Page, expect

ADMIN = "adm-imp-5e2a9c71"
MEMBER = "mem-imp-3d8b0f46"
HEADER = ["Tag No.", "Equipment Type", "Rated Power [kW]", "Location"]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpInstance]:
    instance = start(tmp_path_factory.mktemp("imports-ui"), "ui")
    yield instance
    instance.stop(signal.SIGTERM)


def workbook(rows: int, *, power: int) -> bytes:
    """An equipment list as engineers send it: a 2-row title block above the header row."""
    buf = io.BytesIO()
    book = xlsxwriter.Workbook(buf, {"in_memory": True})
    sheet = book.add_worksheet("Equipment")
    sheet.write_row(0, 0, ["Pump Station 7 — Equipment List"])
    sheet.write_row(1, 0, ["Revision", "C", "Issued for construction"])
    sheet.write_row(2, 0, HEADER)
    for i in range(rows):
        kind = "Pump" if i % 2 else "Motor"
        sheet.write_row(3 + i, 0, [f"P-{101 + i}", kind, power + i, f"Area {i % 3}"])
    book.add_worksheet("Notes").write(0, 0, "Powers are rated, not absorbed.")
    book.close()
    return buf.getvalue()


def api(instance: UpInstance, path: str, token: str | None = None, **params: Any) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    r = httpx.get(f"{instance.base_url}/api/v1{path}", params=params, headers=headers)
    r.raise_for_status()
    return r.json()


def assets_of(instance: UpInstance, project: str) -> dict[str, dict[str, Any]]:
    items = api(instance, f"/projects/{project}/assets", limit=1000)["items"]
    return {a["tag"]: a for a in items}


def props(asset: dict[str, Any]) -> dict[str, str]:
    """An asset's properties as text (a number read from a cell may be kept as either)."""
    return {k: str(v) for k, v in asset["properties"].items()}


def job_in(page: Page, box: str) -> str:
    href = page.locator(f"{box} .job-ref a").get_attribute("href")
    assert href is not None
    return href.rsplit("/", 1)[1]


def read_file(page: Page, base_url: str, content: bytes, name: str, project: str = "") -> None:
    page.goto(f"{base_url}/import" + (f"?project={project}" if project else ""))
    page.set_input_files(
        "input[name=file]", files=[{"name": name, "mimeType": XLSX, "buffer": content}]
    )
    page.click("#file-form button[type=submit]")


def preview(page: Page) -> str:
    page.click("#preview-button")
    expect(page.locator("#preview-progress .state")).to_have_text("success", timeout=30_000)
    expect(page.locator("#changes tbody tr").first).to_be_visible()
    return job_in(page, "#preview-progress")


def commit(page: Page) -> str:
    page.click("#commit")
    expect(page.locator("#commit-progress .state")).to_have_text("success", timeout=30_000)
    expect(
        page.locator("#commit-result .links a", has_text="Imports of this project")
    ).to_be_visible()
    return job_in(page, "#commit-progress")


def test_guided_import_of_a_workbook_then_undo_from_the_imports_list(
    ui: UpInstance, page: Page
) -> None:
    # 1: project (trimmed; a new key is asked about, inline) and file.
    page.goto(f"{ui.base_url}/import")
    page.fill("input[name=project_id]", "  proj-imp ")
    page.set_input_files(
        "input[name=file]",
        files=[{"name": "station7.xlsx", "mimeType": XLSX, "buffer": workbook(6, power=11)}],
    )
    page.click("#file-form button[type=submit]")
    ask = page.locator("#create-ask")
    expect(ask).to_have_text(re.compile("Project proj-imp does not exist yet. Create it?"))
    ask.get_by_role("button", name="Create it").click()
    expect(page.locator("input[name=project_id]")).to_have_value("proj-imp")

    # 2: the header row is found below the title block; both sheets are offered.
    expect(page.locator("#step-layout")).to_be_visible(timeout=15_000)
    expect(page.locator("#header-row")).to_have_value("3")
    expect(page.locator("#header-hint")).to_contain_text("Header found on row 3")
    expect(page.locator("#sheet option")).to_have_text(["Equipment", "Notes"])
    expect(page.locator("#sample tr.r-above")).to_have_count(2)
    expect(page.locator("#sample tr.r-header")).to_contain_text("Rated Power [kW]")
    expect(page.locator("#file-info")).to_contain_text("station7.xlsx")

    # 3: automatic matches, two changed by hand: a property renamed, Location ignored.
    mapping = page.locator("#mapping")
    for header, kind in (("Tag No.", "tag"), ("Equipment Type", "type")):
        row = mapping.locator(f"tr[data-header='{header}']")
        expect(row.locator("select")).to_have_value(kind)
        expect(row.locator(".origin")).to_have_text("auto")
    power = mapping.locator("tr[data-header='Rated Power [kW]']")
    expect(power.locator("select")).to_have_value("prop")
    expect(power.locator(".prop-name")).to_have_value("rated_power_kw")
    power.locator(".prop-name").fill("power_kw")
    location = mapping.locator("tr[data-header='Location']")
    location.locator("select").select_option("")
    expect(location.locator(".origin")).to_have_text("changed")
    expect(page.locator("#problem")).to_be_hidden()
    shot(page, "import-mapping.png")

    # 4: the preview, followed live, then its counts and changes; nothing written yet.
    preview(page)
    counts = page.locator("#preview-counts")
    expect(counts.locator("[data-count=created] .n")).to_have_text("6")
    expect(counts.locator("[data-count=updated] .n")).to_have_text("0")
    expect(page.locator("#changes tbody tr")).to_have_count(6)
    expect(page.locator("#changes tbody tr").first).to_contain_text("P-101")
    expect(page.locator("#changes tbody tr").first).to_contain_text("power_kw: 11")
    assert assets_of(ui, "proj-imp") == {}

    # 5: commit; the summary links to the job, the Imports list and the Assets page.
    first = commit(page)
    expect(page.locator("#commit-result .tiles [data-count=created] .n")).to_have_text("6")
    assets = assets_of(ui, "proj-imp")
    assert props(assets["P-101"]) == {"power_kw": "11"}  # renamed; Location ignored

    # A second import over those assets: the mapping is remembered, the preview shows old → new.
    read_file(page, ui.base_url, workbook(8, power=30), "station7-rev-d.xlsx", "proj-imp")
    expect(page.locator("#remembered")).to_contain_text(
        "Using the mapping you used for this layout on", timeout=15_000
    )
    expect(mapping.locator("tr[data-header='Location'] select")).to_have_value("")
    expect(mapping.locator("tr[data-header='Rated Power [kW]'] .prop-name")).to_have_value(
        "power_kw"
    )
    looked = preview(page)
    expect(counts.locator("[data-count=created] .n")).to_have_text("2")
    expect(counts.locator("[data-count=updated] .n")).to_have_text("6")
    page.locator("#change-tabs [data-filter=updated]").click()
    expect(page.locator("#change-tabs .tab.on")).to_contain_text("Updated")
    updated = page.locator("#changes tbody tr")
    expect(updated).to_have_count(6)
    expect(updated.first).to_contain_text("P-101")
    expect(updated.first.locator("ul.changes li")).to_have_text("power_kw: 11 → 30")
    shot(page, "import-preview.png")
    second = commit(page)
    assert props(assets_of(ui, "proj-imp")["P-101"]) == {"power_kw": "30"}

    # The Imports list, newest first; Undo the second import (asked inline first).
    page.click("#commit-result a:has-text('Imports of this project')")
    expect(page).to_have_url(f"{ui.base_url}/imports?project=proj-imp")
    rows = page.locator("#import-rows tbody tr")
    expect(rows).to_have_count(4)  # two previews, two commits
    expect(rows.nth(0)).to_have_id(f"imp-{second}")
    expect(rows.nth(2)).to_have_id(f"imp-{first}")
    expect(rows.nth(1)).to_contain_text("preview")
    target = page.locator(f"#imp-{second}")
    expect(target).to_contain_text("2 created")
    expect(target).to_contain_text("6 updated")
    target.get_by_role("button", name="Undo").click()
    confirm = page.locator("tr.confirm")
    expect(confirm).to_contain_text(
        "Undo this import? 2 created assets will be deleted and 6 updated assets restored."
    )
    confirm.get_by_role("button", name="Undo import").click()
    result = page.locator("#undo-result")
    expect(page.locator("#undo-progress .state")).to_have_text("success", timeout=30_000)
    expect(result.locator("[data-count=deleted] .n")).to_have_text("2")
    expect(result.locator("[data-count=restored] .n")).to_have_text("6")
    expect(result.locator("[data-count=conflicts] .n")).to_have_text("0")
    undo = job_in(page, "#undo-progress")
    expect(page.locator(f"#imp-{second}")).to_contain_text(f"undone by {undo[:8]}")
    expect(page.locator(f"#imp-{second}").get_by_role("button", name="Undo")).to_have_count(0)
    expect(page.locator(f"#imp-{undo}")).to_contain_text(f"undo of {second[:8]}")
    expect(page.locator(f"#imp-{looked} .why-not")).to_be_visible()  # a preview: no undo
    shot(page, "imports.png")

    # Through the API: the assets are as the first import left them.
    assets = assets_of(ui, "proj-imp")
    assert sorted(assets) == [f"P-{n}" for n in range(101, 107)]
    assert {tag: props(a) for tag, a in assets.items()} == {
        f"P-{101 + i}": {"power_kw": str(11 + i)} for i in range(6)
    }


def csv_file(power: int, *, tag: str = "tag") -> bytes:
    lines = [f"{tag},type,power_kw,area"]
    lines += [
        f"M-{i:03d},{'Motor' if i % 2 else 'Pump'},{power + i},A{i % 3}" for i in range(1, 61)
    ]
    return ("\n".join(lines) + "\n").encode()


def import_by_api(instance: UpInstance, project: str, content: bytes) -> str:
    r = httpx.post(
        f"{instance.base_url}/api/v1/ingestion/upload-csv",
        files={"file": ("motors.csv", content)},
        data={"project_id": project},
    )
    assert r.status_code == 202, r.text
    job_id: str = r.json()["job_id"]
    wait_for(lambda: api(instance, f"/jobs/{job_id}")["state"] == "SUCCESS", timeout=30)
    return job_id


def test_asset_history_lists_each_change_newest_first(ui: UpInstance, page: Page) -> None:
    created = import_by_api(ui, "proj-hist", csv_file(11))
    raised = import_by_api(ui, "proj-hist", csv_file(30))
    lowered = import_by_api(ui, "proj-hist", csv_file(25))

    # The Assets page: search by tag text, type and property, paged, each tag a link.
    page.goto(f"{ui.base_url}/assets?project=proj-hist")
    expect(page.locator("#assets-pager .range")).to_have_text("1–50 of 60")
    page.get_by_role("button", name="Next ›").click()
    expect(page.locator("#assets-pager .range")).to_have_text("51–60 of 60")
    page.fill("#asset-search input[name=q]", "M-00")
    page.fill("#asset-search input[name=type]", "Motor")
    page.click("#asset-search button[type=submit]")
    rows = page.locator("#asset-rows tbody tr")
    expect(rows).to_have_count(5)  # M-001, M-003 … M-009
    expect(rows.first).to_contain_text("M-001")
    expect(rows.first).to_contain_text("power_kw 26")
    shot(page, "assets.png")
    page.fill("#asset-search input[name=prop]", "power_kw=28")
    page.click("#asset-search button[type=submit]")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("M-003")
    rows.first.get_by_role("link", name="M-003").click()

    # The asset page: its values now, then what each job did, newest first, old → new.
    expect(page).to_have_url(f"{ui.base_url}/assets/proj-hist/M-003")
    now = page.locator("#asset-now")
    expect(now.locator(".asset-type")).to_have_text("Motor")
    expect(now).to_contain_text("power_kw")
    history = page.locator("#history-rows tbody tr")
    expect(history).to_have_count(3)
    expect(history.nth(0)).to_contain_text("updated")
    expect(history.nth(0).locator("ul.changes li")).to_have_text("power_kw: 33 → 28")
    expect(history.nth(0).locator("a")).to_have_attribute("href", f"/jobs/{lowered}")
    expect(history.nth(1).locator("ul.changes li")).to_have_text("power_kw: 14 → 33")
    expect(history.nth(1).locator("a")).to_have_attribute("href", f"/jobs/{raised}")
    expect(history.nth(2)).to_contain_text("created")
    expect(history.nth(2)).to_contain_text("power_kw: 14")
    expect(history.nth(2).locator("a")).to_have_attribute("href", f"/jobs/{created}")
    shot(page, "asset-history.png")

    # At phone width nothing spills sideways: wide tables scroll inside their card.
    page.set_viewport_size({"width": 390, "height": 844})
    for path in (
        "/assets/proj-hist/M-003",
        "/assets?project=proj-hist",
        "/imports?project=proj-hist",
        "/import?project=proj-hist",
    ):
        page.goto(f"{ui.base_url}{path}")
        expect(page.locator("main h1")).to_be_visible()
        page.wait_for_load_state("networkidle")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{path} is {width} px wide at 390 px"


def test_a_file_without_a_tag_column_shows_the_problem_and_it_stays(
    ui: UpInstance, page: Page
) -> None:
    import_by_api(ui, "proj-notag", csv_file(11))  # the project exists: no question asked
    response = page.goto(f"{ui.base_url}/upload?project=proj-notag")  # the old address
    assert response is not None and response.ok
    expect(page).to_have_url(f"{ui.base_url}/import?project=proj-notag")
    page.set_input_files(
        "input[name=file]",
        files=[{"name": "no-tags.csv", "mimeType": "text/csv", "buffer": csv_file(11, tag="name")}],
    )
    page.click("#file-form button[type=submit]")
    problem = page.locator("#problem")
    expect(problem).to_contain_text("no header row found", timeout=15_000)
    expect(page.locator("#preview-button")).to_be_disabled()

    # Saying which row is the header does not make a tag column: the problem is named anew.
    page.fill("#header-row", "1")
    page.locator("#header-row").dispatch_event("change")
    expect(page.locator("#mapping tr[data-header='name']")).to_be_visible()
    expect(problem).to_contain_text("no column for the asset tag")
    expect(problem).to_contain_text("name, type, power_kw, area")
    expect(page.locator("#preview-button")).to_be_disabled()
    page.locator("#mapping tr[data-header='area'] select").select_option("")
    expect(problem).to_contain_text("No column imports as the asset tag")  # still there

    # Mapped by hand, the problem goes and the preview is possible.
    page.locator("#mapping tr[data-header='name'] select").select_option("tag")
    expect(problem).to_be_hidden()
    expect(page.locator("#preview-button")).to_be_enabled()
    page.click("#preview-button")
    expect(page.locator("#preview-progress .state")).to_have_text("success", timeout=30_000)
    expect(page.locator("#preview-counts [data-count=unchanged] .n")).to_have_text("60")


def test_a_preview_lists_invalid_rows_and_imports_the_others_when_asked(
    ui: UpInstance, page: Page
) -> None:
    lines = csv_file(11).decode().splitlines()
    for n in (5, 9):  # rows 5 and 9 of the file lose their type
        tag, _type, *rest = lines[n - 1].split(",")
        lines[n - 1] = ",".join([tag, "", *rest])
    page.goto(f"{ui.base_url}/import")
    page.fill("input[name=project_id]", "proj-bad")
    page.set_input_files(
        "input[name=file]",
        files=[{"name": "bad.csv", "mimeType": "text/csv", "buffer": "\n".join(lines).encode()}],
    )
    page.click("#file-form button[type=submit]")
    page.locator("#create-ask").get_by_role("button", name="Create it").click()
    expect(page.locator("#header-hint")).to_contain_text("Header found on row 1", timeout=15_000)
    preview(page)
    expect(page.locator("#preview-counts [data-count=created] .n")).to_have_text("58")
    expect(page.locator("#preview-counts [data-count=invalid] .n")).to_have_text("2")
    invalid = page.locator("#invalid-table tbody tr")
    expect(invalid).to_have_count(2)
    expect(invalid.nth(0)).to_contain_text("5")
    expect(invalid.nth(0)).to_contain_text("type is required")
    expect(invalid.nth(1)).to_contain_text("9")
    page.get_by_role("button", name="Import anyway, skipping 2 invalid rows").click()
    expect(page.locator("#commit-progress .state")).to_have_text("success", timeout=30_000)
    expect(page.locator("#commit-result [data-count=created] .n")).to_have_text("58")
    assert len(assets_of(ui, "proj-bad")) == 58


def test_a_commit_after_the_assets_changed_names_them(ui: UpInstance, page: Page) -> None:
    import_by_api(ui, "proj-race", csv_file(11))
    page.goto(f"{ui.base_url}/import?project=proj-race")
    page.set_input_files(
        "input[name=file]",
        files=[{"name": "motors.csv", "mimeType": "text/csv", "buffer": csv_file(30)}],
    )
    page.click("#file-form button[type=submit]")
    preview(page)
    expect(page.locator("#preview-counts [data-count=updated] .n")).to_have_text("60")
    changes = csv_file(11).decode().replace("M-002,Pump,13", "M-002,Pump,99").encode()
    import_by_api(ui, "proj-race", changes)  # someone else changes M-002 meanwhile
    page.click("#commit")
    expect(page.locator("#commit-progress .state")).to_have_text("failure", timeout=30_000)
    result = page.locator("#commit-result")
    expect(result.locator(".outcome")).to_contain_text("changed since the preview")
    expect(result.locator("ul.conflicts li")).to_have_count(1)
    expect(result.locator("ul.conflicts li")).to_contain_text("M-002")
    assert assets_of(ui, "proj-race")["M-001"]["properties"]["power_kw"] in (12, "12")
    # Preview again: the preview now shows M-002 going from 99.
    result.get_by_role("button", name="Preview again").click()
    expect(page.locator("#preview-progress .state")).to_have_text("success", timeout=30_000)
    expect(page.locator("#step-commit")).to_be_hidden()
    page.locator("#change-tabs [data-filter=updated]").click()
    row = page.locator("#changes tbody tr", has_text="M-002")
    expect(row.locator("ul.changes li")).to_have_text("power_kw: 99 → 32")


def test_3000_rows_through_the_import_page_bars_reach_100(ui: UpInstance, page: Page) -> None:
    import_by_api(ui, "proj-big", csv_file(1))  # the project exists
    page.goto(f"{ui.base_url}/import?project=proj-big")
    page.evaluate(
        """() => { window.__sent = []; window.__pcts = [];
        new MutationObserver(() => {
          const msg = document.querySelector('#sending .send-msg');
          if (msg && msg.textContent) window.__sent.push(msg.textContent);
          const bar = document.querySelector('#commit-progress .progress');
          if (bar) window.__pcts.push(Number(bar.getAttribute('aria-valuenow')));
        }).observe(document.body, {subtree: true, childList: true, characterData: true,
                                    attributes: true, attributeFilter: ['aria-valuenow']}); }"""
    )
    page.set_input_files(
        "input[name=file]",
        files=[{"name": "assets.csv", "mimeType": "text/csv", "buffer": assets_csv(3000)}],
    )
    page.click("#file-form button[type=submit]")
    expect(page.locator("#step-mapping")).to_be_visible(timeout=15_000)
    sent = page.evaluate("window.__sent")
    assert any(re.fullmatch(r"Sending \d+\.\d of \d+\.\d MB", t) for t in sent), sent
    preview(page)
    expect(page.locator("#preview-counts [data-count=created] .n")).to_have_text("3,000")
    expect(page.locator("#changes-pager .range")).to_have_text("1–50 of 3,000")
    job_id = commit(page)
    expect(page.locator("#commit-progress .progress")).to_have_attribute("aria-valuenow", "100")
    expect(page.locator("#commit-result .outcome")).to_contain_text("3,000 created")
    seen = page.evaluate("window.__pcts")
    assert seen[-1] == 100 and seen == sorted(seen), seen
    expect(page.locator("#banner")).to_be_hidden()  # the socket was closed on purpose
    page.goto(f"{ui.base_url}/")
    row = page.locator(f"[data-group=completed] #job-{job_id}")
    expect(row).to_contain_text("Import complete: 3,000 created")


def test_a_member_reads_the_reason_not_json(
    browser: Browser, tmp_path_factory: pytest.TempPathFactory
) -> None:
    tokens = f"{ADMIN}:admin,{MEMBER}:member:proj-a"
    secured = start(
        tmp_path_factory.mktemp("secured-imports"), "secured", SYNAPSE_API_TOKENS=tokens
    )
    try:
        for project in ("proj-a", "proj-b"):
            r = httpx.post(
                f"{secured.base_url}/api/v1/ingestion/upload-csv",
                files={"file": ("m.csv", csv_file(1))},
                data={"project_id": project},
                headers={"Authorization": f"Bearer {ADMIN}"},
            )
            job_id = r.json()["job_id"]
            wait_for(
                lambda j=job_id: api(secured, f"/jobs/{j}", ADMIN)["state"] == "SUCCESS",
                timeout=30,
            )
        context = browser.new_context()
        page = context.new_page()
        page.goto(f"{secured.base_url}/login?next=/imports")
        page.fill("input[name=token]", MEMBER)
        page.click("button[type=submit]")
        # Their one project is chosen for them; the other is not found, in words.
        expect(page).to_have_url(f"{secured.base_url}/imports")
        expect(page.locator("#import-rows tbody tr")).to_have_count(1)
        page.goto(f"{secured.base_url}/imports?project=proj-b")
        expect(page.locator("#imports-error")).to_have_text("project proj-b not found")
        page.goto(f"{secured.base_url}/assets?project=proj-b")
        expect(page.locator("#assets-error")).to_have_text("project proj-b not found")
        response = page.goto(f"{secured.base_url}/assets/proj-b/M-001")
        assert response is not None and response.status == 404
        expect(page.locator("main .error")).to_have_text("project proj-b not found")
        expect(page.locator("body")).not_to_contain_text('"detail"')
        # A member cannot make a project: told so beside the step, nothing is sent.
        page.goto(f"{secured.base_url}/import")
        page.fill("input[name=project_id]", "proj-new")
        page.set_input_files(
            "input[name=file]",
            files=[{"name": "m.csv", "mimeType": "text/csv", "buffer": csv_file(1)}],
        )
        page.click("#file-form button[type=submit]")
        expect(page.locator("#file-error")).to_contain_text(
            "Project proj-new does not exist. Only an admin can create a project"
        )
        expect(page.locator("#step-layout")).to_be_hidden()
        context.close()
    finally:
        secured.stop(signal.SIGTERM)
