"""The Webhooks page in a real browser (Debian's chromium driven by Playwright) against
`synapse up`, with a real HTTP receiver in the test: add a hook (its secret shown once), Send
test, the ping in the delivery log with its 200, a refused URL said in the page, Delete asked
inline; a member gets no link and a 403."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from synapse.webhooks import signing
from tests.e2e.conftest import UpInstance, shot, start
from tests.support.waiting import wait_for

pytest.importorskip("playwright")
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

ADMIN = "adm-hooks-5c1e9a27"
MEMBER = "mem-hooks-0b7d3f64"


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpInstance]:
    instance = start(
        tmp_path_factory.mktemp("hooks-ui"),
        "ui",
        SYNAPSE_API_TOKENS=f"{ADMIN}:admin,{MEMBER}:member:proj-hooks",
        SYNAPSE_WEBHOOK_ALLOW_PRIVATE="true",
        SYNAPSE_WEBHOOK_BACKOFF="0.3",
        SYNAPSE_WEBHOOK_BACKOFF_MAX="0.6",
    )
    yield instance
    instance.stop(signal.SIGTERM)


@pytest.fixture(scope="module")
def received() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    got: list[tuple[dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            got.append((dict(self.headers.items()), body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", got
    server.shutdown()
    server.server_close()


def open_page(browser: Browser, ui: UpInstance, token: str) -> tuple[Any, Page, list[str]]:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, reduced_motion="reduce")
    context.add_cookies([{"name": "synapse_token", "value": token, "url": ui.base_url}])
    page = context.new_page()
    problems: list[str] = []

    def console(message: ConsoleMessage) -> None:
        where = str(message.location.get("url", ""))
        if message.type == "error" and not where.endswith("/favicon.ico"):
            problems.append(f"{message.text} ({where})")

    page.on("console", console)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    return context, page, problems


def test_add_a_hook_send_a_test_and_see_it_in_the_log(
    browser: Browser,
    ui: UpInstance,
    received: tuple[str, list[tuple[dict[str, str], bytes]]],
) -> None:
    url, got = received
    context, page, problems = open_page(browser, ui, ADMIN)
    page.goto(f"{ui.base_url}/")
    page.get_by_role("link", name="Webhooks").click()
    expect(page.get_by_role("heading", name="Webhooks", exact=True)).to_be_visible()

    form = page.locator("#hook-form")
    form.get_by_label("URL").fill("ftp://hooks.example.com/x")
    form.get_by_role("button", name="Add").click()
    expect(page.locator("#hooks-error")).to_contain_text("http:// or https://")
    assert [p for p in problems if "422" not in p] == []  # the browser logs the refusal's 422
    problems.clear()

    form.get_by_label("URL").fill(url)
    form.get_by_role("button", name="Add").click()
    secret_box = page.locator("#hook-secret")
    expect(secret_box).to_be_visible()
    expect(page.locator("#hooks-error")).to_be_hidden()
    secret = secret_box.locator(".secret").inner_text()
    assert secret.startswith("whsec_")
    row = page.locator("#hook-rows tr[data-hook]").first
    expect(row).to_contain_text(url)

    row.get_by_role("button", name="Send test").click()
    log_row = page.locator("#delivery-rows tr.ok").first
    expect(log_row).to_contain_text("ping", timeout=15_000)
    expect(log_row.locator(".answer")).to_have_text("200")
    shot(page, "webhooks.png")
    headers, body = wait_for(lambda: got[-1] if got else None, timeout=10, what="the ping")
    assert headers["X-Synapse-Event"] == "ping"
    assert signing.verify(secret, body, headers["X-Synapse-Signature"])

    page.reload()  # the secret is never shown again
    expect(page.locator("#hook-secret")).to_be_hidden()
    assert secret not in page.content()
    expect(page.locator("#delivery-rows tr.ok").first.locator(".answer")).to_have_text("200")

    row = page.locator("#hook-rows tr[data-hook]").first
    row.get_by_role("button", name="Delete").click()
    expect(row.locator(".confirm")).to_be_visible()
    row.locator(".confirm-yes").click()
    expect(page.locator("#hook-rows tr[data-hook]")).to_have_count(0)
    listed = httpx.get(
        f"{ui.base_url}/api/v1/webhooks", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10
    ).json()
    assert listed["total"] == 0
    context.close()
    assert not problems, f"the page logged errors: {problems}"


def test_members_get_no_webhooks(browser: Browser, ui: UpInstance) -> None:
    context, page, _problems = open_page(browser, ui, MEMBER)
    page.goto(f"{ui.base_url}/")
    expect(page.get_by_role("link", name="Queues")).to_be_visible()
    expect(page.get_by_role("link", name="Webhooks")).to_have_count(0)
    response = page.goto(f"{ui.base_url}/webhooks")
    assert response is not None and response.status == 403
    expect(page.locator(".problem")).to_contain_text("admins only")
    context.close()
