"""The Queues and Workers pages in a real browser (Debian's chromium driven by Playwright),
against `synapse up`: pause and resume a queue from its page (with the inline confirm step), a
job of the paused queue waiting and then running, what a member sees, the worker with its
running job and memory."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from synapse.celery_app import create_celery
from synapse.jobs.service import submit_job
from tests.e2e.conftest import UpInstance, shot, start
from tests.support.system import ROOT
from tests.support.waiting import wait_for

pytest.importorskip("playwright")
from playwright.sync_api import Browser, ConsoleMessage, Dialog, Page, expect

ADMIN = "adm-ops-2f7a1c93"
MEMBER = "mem-ops-6e0b4d18"


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpInstance]:
    instance = start(
        tmp_path_factory.mktemp("ops-ui"),
        "ui",
        SYNAPSE_TASK_MODULES="tests.support.tasks",
        PYTHONPATH=str(ROOT),
        SYNAPSE_API_TOKENS=f"{ADMIN}:admin,{MEMBER}:member:proj-ops",
    )
    yield instance
    instance.stop(signal.SIGTERM)


def open_page(browser: Browser, ui: UpInstance, token: str) -> tuple[Any, Page, list[str]]:
    context = browser.new_context(viewport={"width": 1280, "height": 720}, reduced_motion="reduce")
    context.add_cookies([{"name": "synapse_token", "value": token, "url": ui.base_url}])
    page = context.new_page()
    problems: list[str] = []

    def console(message: ConsoleMessage) -> None:
        where = str(message.location.get("url", ""))
        if message.type == "error" and not where.endswith("/favicon.ico"):  # none is served
            problems.append(f"{message.text} ({where})")

    def dialog(d: Dialog) -> None:  # confirmations are inline, never a browser dialog
        problems.append(f"dialog: {d.message}")
        d.dismiss()

    page.on("console", console)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on(
        "response",
        lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None,
    )
    page.on("dialog", dialog)
    return context, page, problems


@pytest.fixture
def admin_page(browser: Browser, ui: UpInstance) -> Iterator[Page]:
    context, page, problems = open_page(browser, ui, ADMIN)
    yield page
    context.close()
    assert not problems, f"the page logged errors: {problems}"


def api(ui: UpInstance, path: str, token: str = ADMIN) -> dict[str, Any]:
    response = httpx.get(
        f"{ui.base_url}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def submit(ui: UpInstance, queue: str, seconds: float) -> str:
    settings = ui.settings()
    celery = create_celery(settings)
    try:
        job = submit_job(
            settings=settings,
            celery=celery,
            task_name="test.sleeper",
            params={"seconds": seconds, "step": 0.1},
            queue=queue,
            project_key="proj-ops",
        )
    finally:
        celery.close()
    return job.id


def bulk_paused(ui: UpInstance) -> bool:
    queues = api(ui, "/api/v1/queues")["items"]
    return bool(next(q for q in queues if q["name"] == "bulk")["paused"])


def test_pause_and_resume_a_queue_from_its_page(ui: UpInstance, admin_page: Page) -> None:
    page = admin_page
    page.goto(f"{ui.base_url}/queues")
    row = page.locator("tr[data-queue=bulk]")
    expect(row.locator(".state")).to_have_text("Running")
    row.get_by_role("button", name="Pause bulk").click()
    expect(row.locator(".q-question")).to_contain_text("None of its queued jobs will start")
    assert not bulk_paused(ui)  # nothing happens before the confirm
    row.get_by_role("button", name="Yes, pause bulk").click()
    expect(row.locator(".state")).to_have_text("Paused")
    expect(row.locator(".q-note")).to_have_text("Paused bulk.")
    assert bulk_paused(ui)

    job_id = submit(ui, "bulk", seconds=0.3)
    expect(row.locator(".q-depth")).to_have_text("1", timeout=10_000)  # the live refresh
    expect(row.locator(".q-wait")).not_to_have_text("—")
    expect(page.locator("tr[data-queue=default] .state")).to_have_text("Running")
    assert api(ui, f"/api/v1/jobs/{job_id}")["state"] == "QUEUED"
    shot(page, "queues.png")

    row.get_by_role("button", name="Resume bulk").click()
    row.get_by_role("button", name="Keep as it is").click()  # changed my mind
    assert bulk_paused(ui)
    row.get_by_role("button", name="Resume bulk").click()
    row.get_by_role("button", name="Yes, resume bulk").click()
    expect(row.locator(".state")).to_have_text("Running")
    wait_for(
        lambda: api(ui, f"/api/v1/jobs/{job_id}")["state"] == "SUCCESS",
        timeout=30,
        what="the held bulk job to run after the resume",
    )
    expect(row.locator(".q-depth")).to_have_text("0", timeout=10_000)


def test_a_member_sees_the_queues_without_the_buttons(browser: Browser, ui: UpInstance) -> None:
    context, page, problems = open_page(browser, ui, MEMBER)
    try:
        page.goto(f"{ui.base_url}/queues")
        expect(page.locator("tr[data-queue=urgent] .state")).to_have_text("Running")
        expect(page.get_by_role("button", name="Pause urgent")).to_have_count(0)
        refused = httpx.post(
            f"{ui.base_url}/api/v1/queues/urgent/pause",
            headers={"Authorization": f"Bearer {MEMBER}"},
        )
        assert refused.status_code == 403
    finally:
        context.close()
    assert not problems, problems


def test_the_workers_page_shows_the_worker_and_its_job(ui: UpInstance, admin_page: Page) -> None:
    page = admin_page
    job_id = submit(ui, "default", seconds=30)
    wait_for(
        lambda: api(ui, f"/api/v1/jobs/{job_id}")["state"] == "RUNNING",
        timeout=30,
        what="the sleeper to run",
    )
    page.goto(f"{ui.base_url}/workers")
    row = page.locator("#worker-table tbody tr").first
    expect(row.locator(".w-name")).to_contain_text("worker")
    expect(row.locator(".w-queues")).to_have_text("urgent, default, bulk")
    link = row.locator(f'.w-active a[href="/jobs/{job_id}"]')
    expect(link).to_have_text(job_id[:8], timeout=10_000)
    expect(row.locator(".w-rss")).to_contain_text(" MB")
    expect(page.locator("#worker-count")).to_have_text("1")
    shot(page, "workers.png")
    link.click()
    expect(page).to_have_url(f"{ui.base_url}/jobs/{job_id}")
    cancelled = httpx.post(
        f"{ui.base_url}/api/v1/jobs/{job_id}/cancel",
        headers={"Authorization": f"Bearer {ADMIN}"},
    )
    assert cancelled.status_code == 200, cancelled.text


def test_the_queues_page_says_when_the_server_is_away(browser: Browser, ui: UpInstance) -> None:
    """Polling a server that cannot be reached is said in the page (at phone width), never an
    uncaught rejection; the page recovers by itself."""
    context = browser.new_context(viewport={"width": 390, "height": 800})  # a phone
    context.add_cookies([{"name": "synapse_token", "value": ADMIN, "url": ui.base_url}])
    page = context.new_page()
    uncaught: list[str] = []
    page.on("pageerror", lambda exc: uncaught.append(str(exc)))
    try:
        page.goto(f"{ui.base_url}/queues")
        error = page.locator("#ops-error")
        expect(error).to_be_hidden()
        page.route("**/api/v1/queues", lambda route: route.abort("connectionrefused"))
        expect(error).to_contain_text("The server cannot be reached", timeout=10_000)
        page.unroute("**/api/v1/queues")
        expect(error).to_be_hidden(timeout=10_000)
        expect(page.locator("tr[data-queue=bulk] .state")).to_have_text("Running")
    finally:
        context.close()
    assert not uncaught, uncaught
