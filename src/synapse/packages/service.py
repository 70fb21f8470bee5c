"""Making a package: survey the assets, write the workbook and the PDF, record the files.

`submit_package` is what the API calls; `run_package` is what the task (and the benchmark) run.
Files are written under temporary names and moved into place only when every file of the package
is complete, so a cancelled or failed package leaves no file listed. With them goes the snapshot of
the asset values the package was built from (snapshots.py); the package compares its values with
the previous revision's snapshot and prints the changes (revisions.py, docs/packages.md).
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from celery import Celery

from synapse.config import Settings
from synapse.db.engine import session_scope
from synapse.db.models import Job
from synapse.errors import InvalidInput
from synapse.files import FileBatch, write_files
from synapse.jobs.service import submit_job
from synapse.packages import excel
from synapse.packages.data import Heading, Snapshot, Survey, snapshot
from synapse.packages.options import PackageJob, PackageRequest, parse_request
from synapse.packages.parallel import ChunkedPdf, Dispatch
from synapse.packages.pdf import PdfPlan, write_pdf
from synapse.packages.pdf_changes import plan_changes
from synapse.packages.revisions import Changes, Differ
from synapse.packages.snapshots import MEDIA_TYPE, SUFFIX, Previous, SnapshotWriter, find_previous
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
    run_at: datetime | None = None,
) -> Job:
    """Check the request and the project (unknown: NotFound), then queue the job (or schedule
    it for `run_at`)."""
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
        run_at=run_at,
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
    record: SnapshotWriter | None,
    previous: Previous | None,
) -> tuple[Survey, PdfPlan, Changes | None]:
    """The first pass: counts and widths for the workbook, the page plan (and the chunks' spool
    files) for the PDF, the values' snapshot and the changes since the previous revision."""
    formats, types = job.options.formats, job.options.asset_types
    survey, plan = Survey(), PdfPlan(job.parts)
    differ = Differ(previous.assets) if previous is not None else None
    tick = Ticker(progress, "Reading assets", "assets", count, (0, READ_SHARE))
    for asset in snap.assets(project_id, types):
        survey.add(asset)
        if record is not None:
            record.add(asset)
        if differ is not None:
            differ.add_asset(asset)
        if "pdf" in formats:
            plan.add(asset)
            if chunked is not None:
                chunked.add(asset, plan.sheets[-1][2])
        tick(survey.total)
    if record is not None:
        record.close()
    plan.finish()
    changes = None
    if previous is not None and differ is not None:
        changes = Changes(previous.revision, previous.job_id, tuple(differ.finish()))
        if "pdf" in formats:
            plan.changes = plan_changes(changes)
    return survey, plan, changes


def _previous(settings: Settings, job: PackageJob, progress: Progress) -> Previous | None:
    previous = find_previous(
        settings,
        project_key=job.project_key,
        package_type=job.package_type,
        revision=job.options.revision,
        exclude_job=job.job_id,
    )
    if previous is not None:
        progress.log(
            "INFO",
            f"Comparing with revision {previous.revision} (package job {previous.job_id})",
        )
    return previous


def _snapshot_writer(
    files: FileBatch, job: PackageJob, heading: Heading
) -> tuple[SnapshotWriter | None, str | None]:
    """Where the values go: a file of the batch, when there is a job to own it (only a job's
    snapshot can be found again, through the job table)."""
    if job.job_id is None:
        return None, None
    pending, _ = files.add(_file_name(heading, SUFFIX), MEDIA_TYPE)
    header = {
        "project": job.project_key,
        "package_type": job.package_type,
        "revision": heading.revision,
        "asset_types": list(heading.asset_types),
        "job_id": job.job_id,
    }
    return SnapshotWriter(pending.path, header), pending.id


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
    heading = Heading(
        project_key=job.project_key,
        project_name=project.name,
        title=job.title,
        revision=job.options.revision,
        date=datetime.now(ZoneInfo(settings.timezone)).date().isoformat(),
        package_type=job.package_type,
        asset_types=types,
    )
    previous = _previous(settings, job, progress)
    records: list[dict[str, Any]] = []
    with write_files(
        settings, kind="package", job_id=job.job_id, project_key=job.project_key
    ) as files:
        writer, snapshot_id = _snapshot_writer(files, job, heading)
        try:
            survey, plan, changes = _survey(
                job, progress, snap, project.id, count, chunked, writer, previous
            )
        finally:
            if writer is not None:
                writer.abandon()  # closed already when the survey went well
        missing = [t for t in types if t not in survey.by_type]
        if missing:
            progress.log("WARNING", f"No assets of type {', '.join(missing)} in the project")
        if "xlsx" in formats:
            excel.check_limits(survey, parts)
        targets: dict[str, Path] = {}
        for fmt in formats:
            pending, file_record = files.add(_file_name(heading, f".{fmt}"))
            records.append(file_record)
            targets[fmt] = pending.path
        phases = {"read_and_plan": round(time.perf_counter() - started, 3)}
        rows, pages, chunks = _render(
            settings, job, progress, snap, project.id, chunked, targets,
            heading=heading, survey=survey, plan=plan, changes=changes, phases=phases,
        )  # fmt: skip
        progress.update_progress(1, 1, "Saving files...", percent=99)  # last cancel check
    made = [f"{rows:,} Excel rows"] if rows else []
    made += [f"{pages:,} PDF pages"] if pages else []
    summary = f"Package complete: {survey.total:,} assets, {' and '.join(made)}"
    if changes is not None:
        summary += f"; {changes.count:,} changes since revision {changes.since}"
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
        "snapshot_file_id": snapshot_id,
        "changes_since": changes.summary() if changes is not None else None,
        "duration_seconds": round(time.perf_counter() - started, 3),
        "phase_seconds": phases,
    }
    if chunks:
        result["chunks"] = chunks
    return result


def _render(
    settings: Settings,
    job: PackageJob,
    progress: Progress,
    snap: Snapshot,
    project_id: int,
    chunked: ChunkedPdf | None,
    targets: dict[str, Path],
    *,
    heading: Heading,
    survey: Survey,
    plan: PdfPlan,
    changes: Changes | None,
    phases: dict[str, float],
) -> tuple[int, int, list[dict[str, Any]]]:
    """Write the workbook and draw the PDF to `targets`; (Excel rows, PDF pages, chunks)."""
    parts, types = job.parts, job.options.asset_types
    if chunked is not None:  # the workers start on the chunks while this process goes on
        chunked.start(heading, plan)
        progress.log(
            "INFO",
            f"PDF in {len(chunked.chunks)} chunks of up to {settings.package_chunk_size:,} "
            f"assets, drawn by every free worker process",
        )
    rows = excel.rows_to_write(survey, parts) if "xlsx" in targets else 0
    pages = plan.total_pages if "pdf" in targets else 0
    excel_cost, pdf_cost = rows * ROW_COST, pages * PAGE_COST
    split = READ_SHARE + round((99 - READ_SHARE) * excel_cost / (excel_cost + pdf_cost))
    chunks: list[dict[str, Any]] = []
    if "xlsx" in targets:  # first: the chunks are drawn meanwhile
        mark = time.perf_counter()
        excel.write_workbook(
            targets["xlsx"],
            heading=heading,
            survey=survey,
            parts=parts,
            assets=snap.assets(project_id, types),
            tick=Ticker(progress, "Writing Excel", "rows", rows, (READ_SHARE, split)),
            tmpdir=targets["xlsx"].parent,
            changes=changes,
        )
        phases["workbook"] = round(time.perf_counter() - mark, 3)
    if "pdf" not in targets:
        return rows, pages, chunks
    mark = time.perf_counter()
    if chunked is not None:
        chunks = chunked.finish(
            targets["pdf"],
            heading=heading,
            survey=survey,
            plan=plan,
            assets=lambda: snap.assets(project_id, types),
            progress=progress,
            span=(split, 99),
        )
    else:
        write_pdf(
            targets["pdf"],
            heading=heading,
            survey=survey,
            plan=plan,
            assets=lambda: snap.assets(project_id, types),
            tick=Ticker(progress, "Generating PDF", "pages", pages, (split, 99)),
        )
    phases["pdf"] = round(time.perf_counter() - mark, 3)
    if chunked is not None:
        phases.update(chunked.phases)
    return rows, pages, chunks
