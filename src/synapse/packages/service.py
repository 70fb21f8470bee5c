"""Making a package: survey the assets, write the workbook and the PDF, record the files.

`submit_package` is what the API calls; `run_package` is what the task (and the benchmark) run.
Files are written under temporary names and moved into place only when every file of the package
is complete, so a cancelled or failed package leaves no file listed.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from celery import Celery

from synapse.config import Settings
from synapse.db.engine import session_scope
from synapse.db.models import Job
from synapse.errors import InvalidInput
from synapse.files import write_files
from synapse.jobs.service import submit_job
from synapse.packages import excel
from synapse.packages.data import Heading, Snapshot, Survey, snapshot
from synapse.packages.options import PackageJob, PackageRequest, parse_request
from synapse.packages.parallel import ChunkedPdf, Dispatch
from synapse.packages.pdf import PdfPlan, write_pdf
from synapse.projects import get_project

TASK = "generate_package"
TICK_SECONDS = 0.2  # progress (and so the cancel check) at most this often
READ_SHARE = 10  # percent of the bar for the first pass over the assets
# Rough costs in seconds, to share the rest of the bar between the workbook and the PDF.
ROW_COST = 1 / 25_000
PAGE_COST = 1 / 1_000


class Progress(Protocol):
    def update_progress(
        self, current: int, total: int, message: str, *, percent: int | None = None
    ) -> None: ...

    def log(self, level: str, message: str) -> None: ...


class Ticker:
    """Progress of one phase ("Generating PDF... 312/540 pages"), at most every TICK_SECONDS.

    Each update is also a cancel checkpoint (between pages, between rows)."""

    def __init__(
        self, progress: Progress, label: str, unit: str, total: int, span: tuple[int, int]
    ) -> None:
        self.progress, self.label, self.unit, self.total = progress, label, unit, total
        self.start, self.end = span
        self.last = time.monotonic()

    def __call__(self, done: int) -> None:
        now = time.monotonic()
        if now - self.last < TICK_SECONDS and done < self.total:
            return
        self.last = now
        share = (self.end - self.start) * min(done, self.total) // max(self.total, 1)
        self.progress.update_progress(
            done,
            self.total,
            f"{self.label}... {done:,}/{self.total:,} {self.unit}",
            percent=self.start + share,
        )


def submit_package(
    *,
    settings: Settings,
    celery: Celery,
    project_key: str,
    body: Any,
    submitted_by: str | None = None,
) -> Job:
    """Check the request and the project (unknown: NotFound), then queue the job."""
    request: PackageRequest = parse_request(body)
    with session_scope(settings) as session:
        project_key = get_project(session, project_key).key
    options = request.options.model_dump(mode="json")
    return submit_job(
        settings=settings,
        celery=celery,
        task_name=TASK,
        params={
            "project_id": project_key,
            "package_type": request.package_type,
            "options": options,
        },
        queue=request.priority,
        project_key=project_key,
        submitted_by=submitted_by,
    )


def _file_name(heading: Heading, ext: str) -> str:
    return (
        f"{heading.project_key}_{heading.package_type}_rev-{heading.revision}_{heading.date}{ext}"
    )


def _chunked(
    settings: Settings, job: PackageJob, count: int, dispatch: Dispatch | None, attempt: int
) -> ChunkedPdf | None:
    """Chunks when the PDF has more datasheets than one chunk (and a job id to name them)."""
    size = settings.package_chunk_size
    wanted = "pdf" in job.options.formats and "datasheets" in job.parts
    if not wanted or size <= 0 or count <= size or job.job_id is None:
        return None
    return ChunkedPdf(settings, job_id=job.job_id, attempt=attempt, size=size, dispatch=dispatch)


def run_package(
    settings: Settings,
    job: PackageJob,
    progress: Progress,
    *,
    dispatch: Dispatch | None = None,
    attempt: int = 1,
) -> dict[str, Any]:
    """Make the package. Over SYNAPSE_PACKAGE_CHUNK_SIZE datasheets the PDF is drawn in chunks
    (parallel.py): `dispatch(index)` sends a chunk to the workers; without it (or when nobody
    takes them) this process draws them all."""
    started = time.perf_counter()
    types = job.options.asset_types
    progress.update_progress(0, 0, "Reading assets...")
    with snapshot(settings) as snap:
        project = snap.project(job.project_key)
        if project is None:
            raise InvalidInput(f"project {job.project_key} not found")
        count = snap.count(project.id, types)
        if count == 0:
            which = f" of type {', '.join(types)}" if types else ""
            raise InvalidInput(
                f"project has no assets{which}; there is nothing to put in a package"
            )
        chunked = _chunked(settings, job, count, dispatch, attempt)
        with chunked or nullcontext():
            return _make(settings, job, progress, snap, project, count, chunked, started)


def _survey(
    job: PackageJob,
    progress: Progress,
    snap: Snapshot,
    project_id: int,
    count: int,
    chunked: ChunkedPdf | None,
) -> tuple[Survey, PdfPlan]:
    """The first pass: counts and widths for the workbook, the page plan (and the chunks' spool
    files) for the PDF."""
    formats, types = job.options.formats, job.options.asset_types
    survey, plan = Survey(), PdfPlan(job.parts)
    tick = Ticker(progress, "Reading assets", "assets", count, (0, READ_SHARE))
    for asset in snap.assets(project_id, types):
        survey.add(asset)
        if "pdf" in formats:
            plan.add(asset)
            if chunked is not None:
                chunked.add(asset, plan.sheets[-1][2])
        tick(survey.total)
    plan.finish()
    return survey, plan


def _make(
    settings: Settings,
    job: PackageJob,
    progress: Progress,
    snap: Snapshot,
    project: Any,
    count: int,
    chunked: ChunkedPdf | None,
    started: float,
) -> dict[str, Any]:
    formats, parts, types = job.options.formats, job.parts, job.options.asset_types
    survey, plan = _survey(job, progress, snap, project.id, count, chunked)
    missing = [t for t in types if t not in survey.by_type]
    if missing:
        progress.log("WARNING", f"No assets of type {', '.join(missing)} in the project")
    if "xlsx" in formats:
        excel.check_limits(survey, parts)
    heading = Heading(
        project_key=job.project_key,
        project_name=project.name,
        title=job.title,
        revision=job.options.revision,
        date=datetime.now(ZoneInfo(settings.timezone)).date().isoformat(),
        package_type=job.package_type,
        asset_types=types,
    )
    phases = {"read_and_plan": round(time.perf_counter() - started, 3)}
    if chunked is not None:  # the workers start on the chunks while this process goes on
        chunked.start(heading, plan)
        progress.log(
            "INFO",
            f"PDF in {len(chunked.chunks)} chunks of up to {settings.package_chunk_size:,} "
            f"assets, drawn by every free worker process",
        )
    rows = excel.rows_to_write(survey, parts) if "xlsx" in formats else 0
    pages = plan.total_pages if "pdf" in formats else 0
    excel_cost, pdf_cost = rows * ROW_COST, pages * PAGE_COST
    split = READ_SHARE + round((99 - READ_SHARE) * excel_cost / (excel_cost + pdf_cost))
    records: list[dict[str, Any]] = []
    chunks: list[dict[str, Any]] = []
    with write_files(
        settings, kind="package", job_id=job.job_id, project_key=job.project_key
    ) as files:
        targets = {}
        for fmt in formats:
            pending, record = files.add(_file_name(heading, f".{fmt}"))
            records.append(record)
            targets[fmt] = pending.path
        if "xlsx" in targets:  # first: the chunks are drawn meanwhile
            mark = time.perf_counter()
            excel.write_workbook(
                targets["xlsx"],
                heading=heading,
                survey=survey,
                parts=parts,
                assets=snap.assets(project.id, types),
                tick=Ticker(progress, "Writing Excel", "rows", rows, (READ_SHARE, split)),
                tmpdir=targets["xlsx"].parent,
            )
            phases["workbook"] = round(time.perf_counter() - mark, 3)
        mark = time.perf_counter()
        if "pdf" in targets and chunked is not None:
            chunks = chunked.finish(
                targets["pdf"],
                heading=heading,
                survey=survey,
                plan=plan,
                assets=lambda: snap.assets(project.id, types),
                progress=progress,
                span=(split, 99),
            )
        elif "pdf" in targets:
            write_pdf(
                targets["pdf"],
                heading=heading,
                survey=survey,
                plan=plan,
                assets=lambda: snap.assets(project.id, types),
                tick=Ticker(progress, "Generating PDF", "pages", pages, (split, 99)),
            )
        if "pdf" in targets:
            phases["pdf"] = round(time.perf_counter() - mark, 3)
            if chunked is not None:
                phases.update(chunked.phases)
        progress.update_progress(1, 1, "Saving files...", percent=99)  # last cancel check
    made = [f"{rows:,} Excel rows"] if rows else []
    made += [f"{pages:,} PDF pages"] if pages else []
    summary = f"Package complete: {survey.total:,} assets, {' and '.join(made)}"
    progress.update_progress(1, 1, summary, percent=100)
    result = {
        "status": "SUCCESS",
        "summary": summary,
        "project_id": job.project_key,
        "package_type": job.package_type,
        "formats": list(formats),
        "title": heading.title,
        "revision": heading.revision,
        "asset_count": survey.total,
        "asset_types": survey.by_type,
        "rows": rows,
        "pages": pages,
        "files": records,
        "duration_seconds": round(time.perf_counter() - started, 3),
        "phase_seconds": phases,
    }
    if chunks:
        result["chunks"] = chunks
    return result
