"""The Job Queue at scale in a real browser (Debian's chromium driven by Playwright), against
`synapse up` with an admin and a member token: search, paging by cursor, `/jobs/<id8>`, bulk
retry with its count shown and confirmed first, what a member may touch, live refresh that
coalesces bursts, and the page at phone width."""

from __future__ import annotations

import re
import signal
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from synapse.auth import fingerprint
from synapse.celery_app import create_celery
from synapse.db.engine import dispose_engines, session_scope
from synapse.db.models import utcnow
from synapse.jobs import store
from synapse.jobs.service import submit_job
from tests.e2e.conftest import SHOTS, UpInstance, start
from tests.support.system import ROOT
from tests.support.waiting import wait_for

pytest.importorskip("playwright")
from playwright.sync_api import Browser, Page, expect

ADMIN = "adm-queue-7c3e9a1f"
MEMBER = "mem-queue-4d8b2e60"
ADMIN_ID = fingerprint(ADMIN, "admin")
MEMBER_ID = fingerprint(MEMBER, "member")
PROJECT = "proj-q"


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpInstance]:
    instance = start(
        tmp_path_factory.mktemp("queue-ui"),
        "ui",
        SYNAPSE_TASK_MODULES="tests.support.tasks",
        PYTHONPATH=str(ROOT),
        SYNAPSE_API_TOKENS=f"{ADMIN}:admin,{MEMBER}:member:{PROJECT}",
    )
    yield instance
    instance.stop(signal.SIGTERM)
    dispose_engines()


def login(
    browser: Browser, instance: UpInstance, token: str, **context: Any
) -> tuple[Page, list[str]]:
    """A logged-in page, and the script errors it has had (uncaught or in the console)."""
    ctx = browser.new_context(reduced_motion="reduce", **context)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console",
        lambda m: (
            errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")  # a 404 page
            else None
        ),
    )
    page.goto(f"{instance.base_url}/login")
    page.fill("input[name=token]", token)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Job Queue")
    return page, errors


def seed(
    instance: UpInstance,
    n: int,
    *,
    task: str = "test.sleeper",
    params: dict[str, Any] | None = None,
    error: str,
    by: str = ADMIN_ID,
) -> list[str]:
    """Failed jobs written directly (cheap); their retries run for real."""
    ids = []
    with session_scope(instance.settings()) as session:
        for i in range(n):
            job = store.add_job(
                session,
                job_id=str(uuid.uuid4()),
                task_name=task,
                params=params if params is not None else {"seconds": 0.02},
                queue="default",
                project_key=PROJECT,
                submitted_by=by,
            )
            job.state, job.error, job.message = "FAILURE", error, "Failed"
            job.created_at = utcnow() - timedelta(minutes=30, seconds=i)
            job.finished_at = job.created_at + timedelta(seconds=1)
            ids.append(job.id)
    return ids


def api(instance: UpInstance, path: str, **params: Any) -> Any:
    r = httpx.get(
        f"{instance.base_url}/api/v1{path}",
        params=params,
        headers={"Authorization": f"Bearer {ADMIN}"},
        timeout=30,
    )
    r.raise_for_status()
    return r.json()


def test_search_paging_and_bulk_retry_with_the_confirm_step(
    ui: UpInstance, browser: Browser
) -> None:
    tag = uuid.uuid4().hex[:6]
    failed = seed(ui, 60, error=f"could not connect: database {tag} was down")
    (upload,) = seed(
        ui,
        1,
        task="import_csv_assets",
        params={"project_id": PROJECT, "filename": f"Pump-Station-{tag}.xlsx", "mode": "upsert"},
        error="row 4: power_kw is not a number",
    )
    page, errors = login(browser, ui, ADMIN, viewport={"width": 1280, "height": 900})

    # Paging: FAILED shows 50 of 61, and a way on to the rest (appended in place).
    page.goto(f"{ui.base_url}/?state=failed&since=24h")
    rows = page.locator("[data-group=failed] li.job")
    expect(page.locator("[data-group=failed] h2 .count")).to_have_text("(61)")
    expect(rows).to_have_count(50)
    page.click("[data-group=failed] a[data-more]")
    expect(rows).to_have_count(61)
    expect(page.locator("[data-group=failed] a[data-more]")).to_have_count(0)
    assert len(set(rows.evaluate_all("els => els.map(e => e.dataset.job)"))) == 61

    # Search: by the 8 characters a list shows, and by the file name (shown on the row).
    page.fill("input[name=q]", upload[:8])
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(f"Pump-Station-{tag}.xlsx")
    page.fill("input[name=q]", f"pump-station-{tag}")
    expect(page).to_have_url(re.compile(f"q=pump-station-{tag}"))
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(upload[:8])

    # /jobs/<id8>: one match goes to the job's page; none is a page with the menu.
    page.goto(f"{ui.base_url}/jobs/{upload[:8]}")
    expect(page).to_have_url(f"{ui.base_url}/jobs/{upload}")
    missing = page.goto(f"{ui.base_url}/jobs/00000000")
    assert missing is not None and missing.status == 404
    expect(page.locator("header nav a", has_text="Job Queue")).to_be_visible()
    expect(page.locator("h1")).to_contain_text("No job 00000000")

    # Bulk retry of everything matching: the count first, then the confirm step.
    page.goto(f"{ui.base_url}/?state=failed&since=24h&q={tag}%20was%20down")
    expect(rows).to_have_count(50)
    page.click("button[data-bulk=retry][data-scope=filter]")
    ask = page.locator(".bulk-ask")
    expect(ask).to_contain_text("Retry 60 of the 60 jobs matching the filters?")
    assert api(ui, "/jobs", state="queued")["total"] == 0  # a dry run did nothing
    if SHOTS:  # the first screen, for the docs (the whole list would be 6,000 px tall)
        page.screenshot(path=str(Path(SHOTS) / "queue-bulk.png"))
    ask.locator("button.confirm").click()
    expect(page.locator(".bulk-done")).to_contain_text("Retried 60 of 60 jobs")

    def retried() -> bool:
        done = api(ui, "/jobs", type="test.sleeper", state="completed", limit=1)
        return bool(done["total"] == 60)

    wait_for(retried, timeout=90, what="the 60 retries")
    retries = api(ui, "/jobs", type="test.sleeper", state="completed", limit=100)["items"]
    assert {j["retry_of"] for j in retries} == set(failed)

    # A selection: two rows picked by their checkboxes.
    page.goto(f"{ui.base_url}/?state=failed&since=24h&q={tag}%20was%20down")
    rows.nth(0).locator(".pick").check()
    rows.nth(1).locator(".pick").check()
    expect(page.locator(".selected-count")).to_have_text("2 selected.")
    page.click("button[data-bulk=retry][data-scope=selection]")
    expect(ask).to_contain_text("Retry 2 of the 2 jobs selected?")
    ask.locator("button.confirm").click()
    expect(page.locator(".bulk-done")).to_contain_text("Retried 2 of 2 jobs")
    assert errors == []
    page.context.close()


def test_a_member_sees_actions_only_on_their_own_jobs(ui: UpInstance, browser: Browser) -> None:
    tag = uuid.uuid4().hex[:6]
    theirs = seed(ui, 1, error=f"member {tag}", by=ADMIN_ID)[0]
    mine = seed(ui, 1, error=f"member {tag}", by=MEMBER_ID)[0]
    page, _errors = login(browser, ui, MEMBER, viewport={"width": 1280, "height": 900})
    page.goto(f"{ui.base_url}/?state=failed&since=24h&q=member%20{tag}")
    expect(page.locator(f"#job-{mine} button[data-action=retry]")).to_be_visible()
    expect(page.locator(f"#job-{mine} .pick")).to_be_visible()
    expect(page.locator(f"#job-{theirs}")).to_be_visible()
    expect(page.locator(f"#job-{theirs} button[data-action=retry]")).to_have_count(0)
    expect(page.locator(f"#job-{theirs} .pick")).to_have_count(0)
    expect(page.locator("#live .live-text")).to_have_text("Live")
    page.context.close()


def test_cancel_asks_first_and_live_refresh_coalesces_bursts(
    ui: UpInstance, browser: Browser
) -> None:
    page, errors = login(browser, ui, ADMIN, viewport={"width": 1280, "height": 900})
    page.goto(f"{ui.base_url}/?since=1h")
    settings = ui.settings()
    celery = create_celery(settings)
    try:
        job = submit_job(
            settings=settings,
            celery=celery,
            task_name="test.sleeper",
            params={"seconds": 30, "step": 0.1},
            project_key=PROJECT,
            submitted_by=ADMIN_ID,
        )
        row = page.locator(f"[data-group=running] #job-{job.id}")
        expect(row).to_be_visible(timeout=15_000)
        expect(row.locator(".progress")).to_have_attribute(
            "aria-label", f"Progress of test.sleeper {job.id[:8]}"
        )
        row.locator("button[data-action=cancel]").click()
        expect(row.locator(".inline-ask")).to_contain_text("Cancel this running test.sleeper job")
        assert api(ui, f"/jobs/{job.id}")["state"] == "RUNNING"  # not before the answer
        row.locator("button[data-confirmed]").click()
        expect(page.locator(f"[data-group=cancelled] #job-{job.id}")).to_be_visible(timeout=15_000)

        # A burst of 40 jobs: the rows are fetched at most about once a second.
        fetches: list[float] = []
        page.on(
            "request",
            lambda r: fetches.append(time.monotonic()) if "/ui/queue/rows" in r.url else None,
        )
        started = time.monotonic()
        burst = [
            submit_job(
                settings=settings,
                celery=celery,
                task_name="test.sleeper",
                params={"seconds": 0.01},
                project_key=PROJECT,
            ).id
            for _ in range(40)
        ]
        wait_for(
            lambda: api(ui, f"/jobs/{burst[-1]}")["state"] == "SUCCESS",
            timeout=60,
            what="the burst",
        )
        expect(page.locator(f"#job-{burst[-1]}")).to_be_visible(timeout=10_000)
        elapsed = time.monotonic() - started
        assert len(fetches) <= elapsed / 1.0 + 2, (len(fetches), elapsed)

        # Events of jobs the filters hide re-fetch nothing: after a hidden job ran, the first
        # re-fetch is the one a shown job's events cause.
        page.goto(f"{ui.base_url}/?project={PROJECT}&since=1h")
        expect(page.locator("[data-group=completed] li.job").first).to_be_visible()
        fetches.clear()
        hidden = submit_job(
            settings=settings, celery=celery, task_name="test.sleeper", params={"seconds": 0.01}
        )
        wait_for(lambda: api(ui, f"/jobs/{hidden.id}")["state"] == "SUCCESS", timeout=30)
        shown_at = time.monotonic()
        shown = submit_job(
            settings=settings,
            celery=celery,
            task_name="test.sleeper",
            params={"seconds": 0.01},
            project_key=PROJECT,
        )
        expect(page.locator(f"#job-{shown.id}")).to_be_visible(timeout=10_000)
        assert fetches and min(fetches) >= shown_at, (fetches, shown_at)
    finally:
        celery.close()
    assert errors == []
    page.context.close()


def test_phone_width(ui: UpInstance, browser: Browser) -> None:
    (failed,) = seed(ui, 1, error="a very long error " + "x" * 300)
    page, _errors = login(
        browser, ui, ADMIN, viewport={"width": 390, "height": 844}, is_mobile=True
    )
    page.goto(f"{ui.base_url}/?since=24h")
    header = page.locator("header.top").bounding_box()
    assert header is not None and header["height"] < 110, header
    expect(page.locator("#filter-box")).not_to_have_attribute("open", "")
    expect(page.locator("section.group").first).to_be_in_viewport()
    page.goto(f"{ui.base_url}/jobs/{failed}")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width
    page.context.close()
