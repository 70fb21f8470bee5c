"""The admin pages in a real browser (Debian's chromium driven by Playwright), against
`synapse up` as `make up` starts it."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from synapse.celery_app import create_celery
from synapse.jobs.service import submit_job
from tests.e2e.conftest import UpInstance, shot, start
from tests.support.csvdata import assets_csv
from tests.support.system import ROOT
from tests.support.waiting import wait_for

pytest.importorskip("playwright")
from playwright.sync_api import Browser, Page, expect

ADMIN = "adm-ui-4c1d7e9a"
MEMBER = "mem-ui-8b2f6a0c"
TEST_TASKS = {"SYNAPSE_TASK_MODULES": "tests.support.tasks", "PYTHONPATH": str(ROOT)}


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpInstance]:
    instance = start(tmp_path_factory.mktemp("ui"), "ui", **TEST_TASKS)
    yield instance
    instance.stop(signal.SIGTERM)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, reduced_motion="reduce")
    page = context.new_page()
    yield page
    context.close()


def submit(instance: UpInstance, task: str, project: str | None = None, **params: Any) -> str:
    settings = instance.settings()
    celery = create_celery(settings)
    try:
        job = submit_job(
            settings=settings, celery=celery, task_name=task, params=params, project_key=project
        )
    finally:
        celery.close()
    return job.id


def job(instance: UpInstance, job_id: str, token: str | None = None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body: dict[str, Any] = httpx.get(
        f"{instance.base_url}/api/v1/jobs/{job_id}", headers=headers
    ).json()
    return body


def test_cancel_a_running_job_from_the_queue_page(ui: UpInstance, page: Page) -> None:
    page.goto(f"{ui.base_url}/")
    job_id = submit(ui, "test.sleeper", project="proj-ui", seconds=60, step=0.1)
    running = page.locator(f"[data-group=running] #job-{job_id}")
    expect(running).to_be_visible(timeout=15_000)
    bar = running.locator(".progress")
    first = wait_for(lambda: int(bar.get_attribute("aria-valuenow") or 0), timeout=15)
    wait_for(lambda: int(bar.get_attribute("aria-valuenow") or 0) > first, timeout=15)
    # The task's message says its counts ("Slept 12/600"): the row does not repeat them.
    expect(running.locator(".msg")).to_contain_text("/600")
    expect(running.locator(".counts")).to_have_text("")
    running.locator("button[data-action=cancel]").click()
    running.locator("button[data-confirmed]").click()  # Cancel asks first
    expect(page.locator(f"[data-group=cancelled] #job-{job_id}")).to_be_visible(timeout=10_000)
    assert job(ui, job_id)["state"] == "CANCELLED"


def test_retry_a_failed_job_from_the_queue_page(ui: UpInstance, page: Page) -> None:
    failed = submit(ui, "test.bad_input", project="proj-ui")
    wait_for(lambda: job(ui, failed)["state"] == "FAILURE", timeout=30)
    page.goto(f"{ui.base_url}/?state=failed")
    row = page.locator(f"#job-{failed}")
    expect(row).to_contain_text("power_kw is not a number")
    row.locator("button[data-action=retry]").click()

    def retried() -> dict[str, Any] | None:
        jobs = httpx.get(f"{ui.base_url}/api/v1/jobs", params={"state": "failed"}).json()
        return next((j for j in jobs["items"] if j["retry_of"] == failed), None)

    again = wait_for(retried, timeout=30)
    expect(page.locator(f"#job-{again['id']}")).to_be_visible(timeout=10_000)


def test_page_says_when_live_updates_drop_and_catches_up(ui: UpInstance, page: Page) -> None:
    page.goto(f"{ui.base_url}/")
    expect(page.locator("#banner")).to_be_hidden()
    api = ui.child("api")
    api.kill()  # the API restarts under `synapse up`; the socket drops meanwhile
    expect(page.locator("#banner")).to_contain_text("Live updates lost", timeout=10_000)
    job_id = submit(ui, "test.sleeper", project="proj-ui", seconds=0.2)
    wait_for(ui.ready, timeout=60, interval=0.25, what="the restarted API")
    expect(page.locator("#banner")).to_be_hidden(timeout=20_000)
    expect(page.locator(f"[data-group=completed] #job-{job_id}")).to_be_visible(timeout=10_000)


def test_queue_screenshot_with_every_kind_of_job(ui: UpInstance, page: Page) -> None:
    # One job of each kind of its own, so the test does not lean on the others' jobs.
    done = submit(ui, "test.sleeper", project="proj-ui", seconds=0.1)
    failed = submit(ui, "test.bad_input", project="proj-ui")
    stopped = submit(ui, "test.sleeper", project="proj-ui", seconds=30, step=0.1)
    wait_for(lambda: job(ui, stopped)["state"] == "RUNNING", timeout=60)
    httpx.post(f"{ui.base_url}/api/v1/jobs/{stopped}/cancel")
    for job_id, state in ((done, "SUCCESS"), (failed, "FAILURE"), (stopped, "CANCELLED")):
        wait_for(lambda j=job_id, s=state: job(ui, j)["state"] == s, timeout=60)
    running = submit(ui, "test.sleeper", project="proj-ui", seconds=40, step=0.1)
    wait_for(lambda: job(ui, running)["percent"] >= 35, timeout=60)
    page.goto(f"{ui.base_url}/")
    expect(page.locator(f"[data-group=running] #job-{running}")).to_be_visible()
    for group in ("running", "completed", "failed", "cancelled"):
        expect(page.locator(f"[data-group={group}] .job").first).to_be_visible()
    shot(page, "queue.png")
    httpx.post(f"{ui.base_url}/api/v1/jobs/{running}/cancel")


def test_a_member_sees_only_their_projects(
    browser: Browser, tmp_path_factory: pytest.TempPathFactory
) -> None:
    tokens = f"{ADMIN}:admin,{MEMBER}:member:proj-a"
    secured = start(tmp_path_factory.mktemp("secured-ui"), "secured", SYNAPSE_API_TOKENS=tokens)
    try:
        admin = {"Authorization": f"Bearer {ADMIN}"}
        ids = {}
        for project in ("proj-a", "proj-b"):
            ids[project] = httpx.post(
                f"{secured.base_url}/api/v1/ingestion/upload-csv",
                files={"file": ("a.csv", assets_csv(20))},
                data={"project_id": project},
                headers=admin,
            ).json()["job_id"]
        for job_id in ids.values():
            wait_for(lambda j=job_id: job(secured, j, ADMIN)["state"] == "SUCCESS", timeout=30)

        context = browser.new_context()
        page = context.new_page()
        page.goto(f"{secured.base_url}/")
        expect(page).to_have_url(f"{secured.base_url}/login?next=/")
        page.fill("input[name=token]", "wrong-token")
        page.click("button[type=submit]")
        expect(page.locator(".error")).to_contain_text("not valid")
        page.fill("input[name=token]", MEMBER)
        page.click("button[type=submit]")
        expect(page.locator(f"#job-{ids['proj-a']}")).to_be_visible()
        expect(page.locator(f"#job-{ids['proj-b']}")).to_have_count(0)
        expect(page.locator("body")).not_to_contain_text("proj-b")
        response = page.goto(f"{secured.base_url}/jobs/{ids['proj-b']}")
        assert response is not None and response.status == 404
        response = page.goto(f"{secured.base_url}/jobs/{ids['proj-a']}")
        assert response is not None and response.status == 200
        context.close()
    finally:
        secured.stop(signal.SIGTERM)
