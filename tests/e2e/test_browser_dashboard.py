"""The Dashboard and Audit pages in a real browser (Debian's chromium driven by Playwright),
against `synapse up` with tokens: the charts render from the job table with no console error,
the window switch redraws them, a member sees their projects only and no audit; the Audit page
lists the actions of two admins, filters and pages them."""

from __future__ import annotations

import random
import signal
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from synapse.auth import fingerprint
from synapse.db.engine import session_scope
from synapse.db.models import AuditEvent, Job
from tests.e2e.conftest import UpInstance, shot, start
from tests.support.csvdata import assets_csv
from tests.support.waiting import wait_for

pytest.importorskip("playwright")
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

ADMIN = "adm-dash-7c1e9a40"
ADMIN_2 = "adm2-dash-2f6b8d13"
MEMBER = "mem-dash-5a0c3e92"
TOKENS = f"{ADMIN}:admin,{ADMIN_2}:admin,{MEMBER}:member:proj-north"
TYPES = ("import_csv_assets", "generate_package", "run_rules", "backup_database")


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpInstance]:
    instance = start(tmp_path_factory.mktemp("dashboard-ui"), "ui", SYNAPSE_API_TOKENS=TOKENS)
    seed_history(instance)
    yield instance
    instance.stop(signal.SIGTERM)


def seed_history(instance: UpInstance) -> None:
    """A day of finished jobs (as a busy system leaves them) and 60 older audit rows."""
    rng = random.Random(13)
    now = datetime.now(UTC)
    with session_scope(instance.settings()) as session:
        for i in range(400):
            finished = now - timedelta(seconds=rng.uniform(0, 24 * 3600))
            started = finished - timedelta(seconds=rng.expovariate(1 / 8))
            state = rng.choice(["SUCCESS"] * 12 + ["FAILURE", "CANCELLED"])
            session.add(
                Job(id=str(uuid.uuid4()), type=TYPES[i % len(TYPES)],
                    project_key=rng.choice(["proj-north", "proj-south"]), params={},
                    queue=rng.choice(["default", "default", "bulk", "urgent"]), state=state,
                    percent=100, current=1, total=1, message="", attempts=1,
                    created_at=started - timedelta(seconds=rng.expovariate(1 / 2)),
                    started_at=started, finished_at=finished)
            )  # fmt: skip
        for i in range(60):
            session.add(
                AuditEvent(at=now - timedelta(days=3, minutes=i), actor="seed",
                           action="rule.update", target=f"project proj-north rule {i}",
                           detail={"fields": ["enabled"]}, client="10.0.0.7")
            )  # fmt: skip


@pytest.fixture
def page(browser: Browser) -> Iterator[tuple[Page, list[str]]]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, reduced_motion="reduce")
    page = context.new_page()
    problems: list[str] = []

    def console(message: ConsoleMessage) -> None:
        where = str(message.location.get("url", ""))
        if where.endswith("/favicon.ico"):
            return  # the login page (not ours) has no icon; the browser asks for one
        if message.type in ("error", "warning"):
            problems.append(f"{message.type}: {message.text} ({where})")

    page.on("console", console)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"), dialog.dismiss())
    )
    yield page, problems
    context.close()


def log_in(page: Page, instance: UpInstance, token: str, target: str) -> None:
    page.goto(f"{instance.base_url}{target}")
    page.fill("input[name=token]", token)
    page.click("button[type=submit]")
    page.wait_for_url(f"{instance.base_url}{target}")


def api(instance: UpInstance, token: str, method: str, path: str, **kwargs: Any) -> Any:
    response = httpx.request(
        method, f"{instance.base_url}/api/v1{path}",
        headers={"Authorization": f"Bearer {token}"}, timeout=30, **kwargs,
    )  # fmt: skip
    assert response.status_code < 300, response.text
    return response.json() if response.content else None


def test_dashboard_draws_its_charts_and_switches_windows(
    ui: UpInstance, page: tuple[Page, list[str]]
) -> None:
    tab, problems = page
    csv = {"file": ("a.csv", assets_csv(30))}
    sent = api(
        ui, ADMIN, "POST", "/ingestion/upload-csv", files=csv, data={"project_id": "proj-north"}
    )
    job_id = sent["job_id"]
    wait_for(lambda: api(ui, ADMIN, "GET", f"/jobs/{job_id}")["state"] == "SUCCESS", timeout=30)
    expected = api(ui, ADMIN, "GET", "/stats/throughput", params={"window": "24h"})["totals"]

    log_in(tab, ui, ADMIN, "/dashboard")
    dashboard = tab.locator("#dashboard[data-loaded='24h']")
    expect(dashboard).to_be_visible()
    expect(tab.locator("#chart-throughput canvas")).to_have_count(1)
    expect(tab.locator("#chart-latency canvas")).to_have_count(1)
    expect(tab.locator("#t-succeeded")).to_have_text(f"{expected['succeeded']:,}")
    expect(tab.locator("#t-failed")).to_have_text(f"{expected['failed']:,}")
    rows = tab.locator("#durations tbody tr")
    expect(rows).to_have_count(len(TYPES))
    expect(tab.locator("#durations")).to_contain_text("import_csv_assets")
    expect(tab.locator("#latency")).to_contain_text("urgent")
    shot(tab, "dashboard.png")

    tab.click("a[data-window='1h']")
    expect(tab.locator("#dashboard[data-loaded='1h']")).to_be_visible()
    assert tab.url.endswith("/dashboard?window=1h")
    expect(tab.locator("#tp-bucket")).to_have_text("1m interval")
    tab.click("a[data-window='7d']")
    expect(tab.locator("#dashboard[data-loaded='7d']")).to_be_visible()
    expect(tab.locator("#chart-throughput canvas")).to_have_count(1)
    assert not problems, problems


def test_a_member_sees_their_projects_and_no_audit(
    ui: UpInstance, page: tuple[Page, list[str]]
) -> None:
    tab, problems = page
    mine = api(ui, MEMBER, "GET", "/stats/throughput", params={"window": "24h"})["totals"]
    every = api(ui, ADMIN, "GET", "/stats/throughput", params={"window": "24h"})["totals"]
    assert 0 < mine["succeeded"] < every["succeeded"]
    log_in(tab, ui, MEMBER, "/dashboard")
    expect(tab.locator("#dashboard[data-loaded='24h']")).to_be_visible()
    expect(tab.locator("#t-succeeded")).to_have_text(f"{mine['succeeded']:,}")
    expect(tab.locator("nav a[href='/audit']")).to_have_count(0)
    assert not problems, problems
    response = tab.goto(f"{ui.base_url}/audit")  # the browser reports the 403 itself
    assert response is not None and response.status == 403
    expect(tab.locator("main")).to_contain_text("admins only")


def test_audit_page_lists_filters_and_pages_the_actions(
    ui: UpInstance, page: tuple[Page, list[str]]
) -> None:
    tab, problems = page
    rule = {"name": f"r-{uuid.uuid4().hex[:6]}", "applies_to": ["Motor"], "condition": "has('x')",
            "action": {"type": "flag", "severity": "info", "message": "{tag}"}}  # fmt: skip
    made = api(ui, ADMIN_2, "POST", "/projects/proj-north/rules", json=rule)
    api(ui, ADMIN_2, "PUT", f"/projects/proj-north/rules/{made['id']}", json={"enabled": False})
    run = api(ui, ADMIN_2, "POST", "/schedules/weekly-report/run")

    log_in(tab, ui, ADMIN, "/audit")
    table = tab.locator("#audit-rows")
    expect(table.locator("tr[data-action='token.login']").first).to_contain_text(
        fingerprint(ADMIN, "admin")
    )
    expect(table.locator("tr[data-action='rule.create']").first).to_contain_text(
        fingerprint(ADMIN_2, "admin")
    )
    expect(table.locator("tr[data-action='schedule.run']").first).to_contain_text("weekly-report")
    expect(table.locator(f"a[href='/jobs/{run['job_id']}']")).to_have_count(1)
    assert ADMIN not in tab.content() and ADMIN_2 not in tab.content()  # never a token
    tab.select_option("select[name=since]", "24h")
    tab.click("#audit-filters button[type=submit]")
    expect(table.locator("tbody tr[data-action='rule.update']")).to_have_count(1)
    shot(tab, "audit.png")
    tab.select_option("select[name=since]", "")

    tab.select_option("select[name=action]", "rule.update")
    tab.click("#audit-filters button[type=submit]")
    expect(table.locator("tbody tr")).to_have_count(50)  # 61 updates: a page of 50
    expect(table.locator("tbody tr[data-action='rule.update']")).to_have_count(50)
    tab.click("a[rel=next]")
    expect(table.locator("tbody tr")).to_have_count(11)
    assert "offset=50" in tab.url and "action=rule.update" in tab.url
    tab.click("a[rel=prev]")
    expect(table.locator("tbody tr").first).to_contain_text(fingerprint(ADMIN_2, "admin"))

    tab.select_option("select[name=actor]", "seed")
    tab.select_option("select[name=since]", "24h")
    tab.click("#audit-filters button[type=submit]")
    expect(table).to_contain_text("No actions match these filters")
    assert not problems, problems
