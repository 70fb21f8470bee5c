"""End-to-end fixtures: `synapse up` as a user runs it, embedded Redis and SQLite."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from synapse.config import Settings
from tests.support.services import require
from tests.support.system import free_port
from tests.support.waiting import wait_for


@dataclass
class UpInstance:
    """One `synapse up` process tree with its own data folder and port."""

    data_dir: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None
    seen: set[int] = field(default_factory=set)
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("SYNAPSE_") and k not in ("DATABASE_URL", "REDIS_URL")
        }
        env.update(SYNAPSE_DATA_DIR=str(self.data_dir), SYNAPSE_PORT=str(self.port))
        env.update(self.extra_env)
        return env

    def settings(self) -> Settings:
        """The settings its processes run with (to queue test tasks from the test)."""
        return Settings(
            _env_file=None,  # type: ignore[call-arg]
            data_dir=self.data_dir,
            port=self.port,
            api_tokens=self.extra_env.get("SYNAPSE_API_TOKENS", ""),
        )

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with (self.data_dir.parent / f"up-{self.port}.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "synapse", "up"],
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for(self.ready, timeout=90, interval=0.25, what=f"synapse up on {self.port}")

    def ready(self) -> bool:
        assert self.proc is not None and self.proc.poll() is None, "synapse up exited"
        self.remember()
        return httpx.get(f"{self.base_url}/readyz", timeout=5).status_code == 200

    def tree(self) -> list[psutil.Process]:
        assert self.proc is not None
        try:
            return psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def remember(self) -> None:
        self.seen.update(p.pid for p in self.tree())

    def child(self, word: str) -> psutil.Process:
        """The direct child whose command line has `word` (worker, beat, api, redis-server)."""
        assert self.proc is not None
        for proc in psutil.Process(self.proc.pid).children():
            if any(word in part for part in proc.cmdline()):
                return proc
        raise AssertionError(f"no {word} child")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 45) -> int:
        assert self.proc is not None
        self.remember()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self.kill_leftovers()

    def leftovers(self) -> list[psutil.Process]:
        alive = []
        for pid in self.seen:
            try:
                proc = psutil.Process(pid)
                if proc.status() != psutil.STATUS_ZOMBIE:
                    alive.append(proc)
            except psutil.NoSuchProcess:
                continue
        return alive

    def kill_leftovers(self) -> None:
        for proc in self.leftovers():
            proc.kill()
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def make_instance(tmp_path: Path) -> Iterator[type[UpInstance] | object]:
    made: list[UpInstance] = []

    def make(name: str, **extra_env: str) -> UpInstance:
        instance = UpInstance(
            data_dir=tmp_path / name / "var", port=free_port(), extra_env=dict(extra_env)
        )
        made.append(instance)
        return instance

    yield make
    for instance in made:
        if instance.proc is not None:
            instance.stop(signal.SIGKILL, timeout=10)


# -- the browser tests' shared parts ---------------------------------------------------------

CHROMIUM = os.environ.get("SYNAPSE_TEST_CHROMIUM", "/usr/bin/chromium")
SHOTS = os.environ.get("SYNAPSE_SCREENSHOT_DIR")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium driven by Playwright (a browser download is not possible here).

    Per module, not per session: Playwright's sync API keeps an event loop running in the main
    thread while it is open, and later tests that call asyncio.run() would find it there."""
    pytest.importorskip("playwright")
    from playwright.sync_api import expect, sync_playwright

    # `make test` runs four test files at a time on two cores: what a page shows may take
    # longer than Playwright's default 5 s to appear. Still a deadline, never a sleep.
    expect.set_options(timeout=15_000)

    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        require(f"chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        yield browser
        browser.close()


def start(tmp: Path, name: str, **env: str) -> UpInstance:
    """A `synapse up` of its own for a module of browser tests."""
    instance = UpInstance(data_dir=tmp / name / "var", port=free_port(), extra_env=env)
    instance.start()
    return instance


def shot(page: Any, name: str) -> None:
    """A full-page screenshot into SYNAPSE_SCREENSHOT_DIR, when it is set (for the docs)."""
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / name), full_page=True)


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page (downloads accepted) that fails its test if the page opens a dialog; a
    module that needs another kind of page defines its own `page`."""
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, reduced_motion="reduce", accept_downloads=True
    )
    page = context.new_page()
    dialogs: list[str] = []

    def refuse(dialog: Any) -> None:  # no page may pop up a dialog
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", refuse)
    yield page
    context.close()
    assert not dialogs, f"the page opened dialogs: {dialogs}"


DONE = ("SUCCESS", "FAILURE", "CANCELLED")


def call(ui: UpInstance, method: str, path: str, **kwargs: Any) -> Any:
    """A call of the instance's API (`/api/v1` + path) that must succeed; its JSON."""
    r = httpx.request(method, f"{ui.base_url}/api/v1{path}", timeout=30, **kwargs)
    assert r.status_code < 300, r.text
    return r.json() if r.content else None


def finished(ui: UpInstance, job_id: str, *, what: str = "") -> dict[str, Any]:
    """The job once it ended; it must have succeeded."""

    def done() -> dict[str, Any] | None:
        job: dict[str, Any] = call(ui, "GET", f"/jobs/{job_id}")
        return job if job["state"] in DONE else None

    job = wait_for(done, timeout=60, interval=0.2, what=what or f"job {job_id}")
    assert job["state"] == "SUCCESS", job
    return job
