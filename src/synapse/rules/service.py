"""Running a project's rules: `run_rules` is what the task, the import and the benchmark call.

Read and evaluate (streamed, in batches, progress by assets evaluated), then replace the
findings of the covered assets and apply the `set` actions in one transaction. Every progress
call is a cancel checkpoint; a cancel during the write rolls it back.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any, Protocol

from celery import Celery
from sqlalchemy import select

from synapse.config import Settings
from synapse.db.engine import get_engine, session_scope
from synapse.db.models import Job, Project
from synapse.errors import InvalidInput
from synapse.jobs.service import submit_job
from synapse.projects import get_project
from synapse.rules import store
from synapse.rules.engine import BatchEngine, compile_rules
from synapse.rules.schemas import SEVERITIES, RunRequest
from synapse.validation import parse

TASK = "run_rules"
TICK_SECONDS = 0.2  # progress (and so the cancel check) at most this often
EVERY = 250  # assets between looks at the clock
EVAL_SHARE = 90  # percent of the run's span for reading and evaluating; writing takes the rest


class Progress(Protocol):
    def update_progress(
        self, current: int, total: int, message: str, *, percent: int | None = None
    ) -> None: ...

    def log(self, level: str, message: str) -> None: ...


def _checkpoint(progress: Progress) -> None:
    """A cancel check that writes nothing (a job's `checkpoint`), when the progress has one."""
    check = getattr(progress, "checkpoint", None)
    if check is not None:
        check()


class _Ticker:
    """Progress within a band of the bar, at most every TICK_SECONDS (and at the end)."""

    def __init__(self, progress: Progress, low: int, high: int) -> None:
        self.progress, self.low, self.high = progress, low, high
        self.last = time.monotonic()

    def __call__(self, done: int, total: int, message: str, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < TICK_SECONDS:
            return
        self.last = now
        share = (self.high - self.low) * min(done, total) // max(total, 1)
        self.progress.update_progress(done, total, message, percent=self.low + share)


def submit_run(
    *,
    settings: Settings,
    celery: Celery,
    project_key: str,
    body: Any = None,
    submitted_by: str | None = None,
    run_at: datetime | None = None,
) -> Job:
    """Queue a run of the project's rules (bulk queue unless `priority` says otherwise), or
    schedule it for `run_at`."""
    request = parse(RunRequest, body if body is not None else {}, "run request")
    with session_scope(settings) as session:
        project_key = get_project(session, project_key).key
    return submit_job(
        settings=settings,
        celery=celery,
        task_name=TASK,
        params={"project_id": project_key},
        queue=request.priority,
        project_key=project_key,
        submitted_by=submitted_by,
        run_at=run_at,
    )


def project_has_rules(settings: Settings, project_key: str) -> bool:
    with session_scope(settings) as session:
        project = session.scalar(select(Project).where(Project.key == project_key))
        return project is not None and store.has_enabled_rules(session, project.id)


def _summary(result: dict[str, Any]) -> str:
    counts = result["findings"]
    found = ", ".join(f"{counts[s]:,} {s}" for s in SEVERITIES)
    where = "assets" if result["scope"] == "project" else "imported assets"
    text = f"Rules applied: {result['rules']} rules on {result['assets']:,} {where}: {found}"
    if result["properties_set"]:
        text += f"; {result['properties_set']:,} properties set"
    return text


def run_rules(
    settings: Settings,
    project_key: str,
    progress: Progress,
    tags: store.Scope = None,
    *,
    job_id: str | None = None,
    span: tuple[int, int] = (0, 100),
) -> dict[str, Any]:
    """Apply the project's enabled rules to its assets (only `tags`, when given: the import's).

    Returns counts by severity and what was set; the findings of the covered assets are
    replaced, so running twice gives the same findings, not twice as many. Progress runs from
    `span[0]` to 90 % of the span while evaluating; the caller reports the end (a job's
    success is 100 %)."""
    started, cpu = time.perf_counter(), time.process_time()
    low, high = span
    evaluated_until = low + (high - low) * EVAL_SHARE // 100
    progress.update_progress(0, 0, "Applying rules...", percent=low)
    with session_scope(settings) as session:
        project = session.scalar(select(Project).where(Project.key == project_key))
        if project is None:
            raise InvalidInput(f"project {project_key} not found")
        project_id = project.id
        rules, broken = compile_rules(store.enabled_rules(session, project_id))
        total = store.count_scope(session, project_id, tags)
    for line in broken:
        progress.log("WARNING", line)

    engine = get_engine(settings)
    batch = BatchEngine(rules)
    tick = _Ticker(progress, low, evaluated_until)
    if rules and total:
        with engine.connect() as conn:
            for asset in store.stream_assets(conn, project_id, tags):
                batch.evaluate(asset)
                if batch.outcome.assets % EVERY == 0:
                    n = batch.outcome.assets
                    tick(n, total, f"Applying rules... {n:,}/{total:,} assets")
    outcome = batch.outcome
    # The last progress call (and the last cancel check that writes) before the write
    # transaction; inside it only checks that write nothing, and none after the commit.
    tick(outcome.assets, total, f"Writing {len(outcome.findings):,} findings...", force=True)
    store.replace_findings(
        engine,
        project_id=project_id,
        tags=tags,
        outcome=outcome,
        job_id=job_id,
        checkpoint=lambda: _checkpoint(progress),
    )
    result: dict[str, Any] = {
        "status": "SUCCESS",
        "project_id": project_key,
        "scope": "project" if tags is None else "tags",
        "rules": len(rules),
        "rules_skipped": len(broken),
        "assets": outcome.assets,
        "evaluations": outcome.evaluations,
        "findings": outcome.by_severity(),
        "findings_total": len(outcome.findings),
        "properties_set": outcome.properties_set,
        "assets_updated": len(outcome.patches),
        "duration_seconds": round(time.perf_counter() - started, 3),
        "cpu_seconds": round(time.process_time() - cpu, 3),  # the worker's own share of it
    }
    result["summary"] = _summary(result)
    return result
