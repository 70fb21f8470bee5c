"""The import: read a CSV file or a workbook, validate every row, stage in bulk, compare with
the project's assets, record the ledger and write what changed, all-or-nothing."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from synapse.config import Settings
from synapse.db.engine import get_engine, session_scope
from synapse.db.models import Job
from synapse.errors import InvalidInput
from synapse.imports import identical, mappings
from synapse.imports.apply import Applied, apply_import
from synapse.imports.table import Layout, read_layout
from synapse.imports.validate import RowError, RowValidator
from synapse.imports.writer import Row, Stager, open_stager
from synapse.jobs import store
from synapse.projects import ensure_project
from synapse.rules.schemas import SEVERITIES
from synapse.rules.service import run_rules
from synapse.rules.store import WrittenBy, derived_properties, has_enabled_rules

MODES = ("upsert", "insert", "preview", "dry_run")  # dry_run: the old name of preview
BATCH = 5_000
ERRORS_IN_RESULT = 100
# Share of the progress bar given to reading and validating; comparing and writing take the rest.
READ_SHARE = 90


class Progress(Protocol):
    def update_progress(
        self, current: int, total: int, message: str, *, percent: int | None = None
    ) -> None: ...

    def log(self, level: str, message: str) -> None: ...


@dataclass(frozen=True)
class ImportRequest:
    project_key: str
    path: Path
    mode: str = "upsert"
    skip_invalid: bool = False
    job_id: str | None = None
    filename: str | None = None  # the client's name, for messages only
    sheet: str | int | None = None
    header_row: int | None = None
    mapping: Mapping[str, str | None] | None = None
    commit_of: str | None = None  # the preview this import applies

    @property
    def preview(self) -> bool:
        return self.mode in ("preview", "dry_run")

    @property
    def may_be_identical(self) -> bool:
        """Whether the fast path of an identical re-import may apply (`imports.identical`)."""
        return self.mode == "upsert" and self.commit_of is None and bool(self.job_id)


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise InvalidInput(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    return mode


def _call(progress: Progress, name: str, *args: Any) -> None:
    """A job's extra hooks (`checkpoint`, `past_point_of_no_return`) when the progress has them."""
    hook = getattr(progress, name, None)
    if hook is not None:
        hook(*args)


def run_import(settings: Settings, req: ImportRequest, progress: Progress) -> dict[str, Any]:
    started = time.perf_counter()
    check_mode(req.mode)
    progress.update_progress(0, 0, "Reading file...")
    with read_layout(
        req.path, sheet=req.sheet, header_row=req.header_row, mapping=req.mapping
    ) as layout:
        progress.log("INFO", _describe(req, layout))
        with session_scope(settings) as session:
            project = ensure_project(session, req.project_key)
            project_id, project_key = project.id, project.key
            rules_on = not req.preview and has_enabled_rules(session, project_id)
            derived = derived_properties(session, project_id)
            job = session.get(Job, req.job_id) if req.job_id else None
            mappings.remember(
                session,
                project_id=project_id,
                plan=layout.plan,
                job_id=req.job_id,
                by=job.submitted_by if job else None,
            )
        source = None if req.preview else identical.fingerprint(req.path, layout, req.mode)
        if source is not None and req.may_be_identical:
            same = identical.record_if_identical(
                get_engine(settings),
                project_id=project_id,
                project_key=project_key,
                job_id=req.job_id or "",
                source=source,
                checkpoint=lambda: _call(progress, "checkpoint"),
                committed=lambda: _call(
                    progress, "past_point_of_no_return", "the import was recorded"
                ),
            )
            if same is not None:
                progress.log("INFO", f"Nothing to read: {same.describe()}")
                done = Applied(unchanged=same.rows)
                return _result(req, layout, done, same.rows, [], None, started, progress) | {
                    "identical_to": same.previous_job
                }
        errors: list[RowError] = []
        skipped: list[tuple[int, str]] = []
        stager = open_stager(get_engine(settings), project_id)
        try:
            total = _stage(req, layout, stager, progress, errors, skipped)
            if req.mode == "insert":
                for row, tag in stager.existing_tags():
                    errors.append(RowError(row, "tag", tag, "tag already exists in the project"))
                    skipped.append((row, tag))
                errors.sort(key=lambda e: e.row)
            if errors and not req.skip_invalid:
                _reject(settings, req, errors, total)
            if total == 0:
                raise InvalidInput(
                    f"the file has a header (row {layout.header_row}) but no data rows below it"
                )
            progress.update_progress(
                total, total, f"Validated {total:,} rows; comparing...", percent=READ_SHARE
            )
            applied = apply_import(
                stager,
                job_id=req.job_id or "",
                columns=layout.plan.property_names,
                derived=derived,
                preview=req.preview,
                insert_only=req.mode == "insert",
                skipped=sorted(set(skipped)),
                commit_of=req.commit_of,
                source=None if source is None else source | {"rows": total},
                checkpoint=lambda: _call(progress, "checkpoint"),
                committed=lambda: _call(
                    progress, "past_point_of_no_return", "the import was written"
                ),
            )
        finally:
            stager.close()
    findings = None
    if rules_on and (applied.created or applied.updated):
        # The last stage: the project's rules on the assets this import wrote.
        ran = run_rules(
            settings,
            req.project_key,
            progress,
            WrittenBy(req.job_id or ""),
            job_id=req.job_id,
            span=(READ_SHARE, 99),
        )
        findings = ran["findings"]
    if errors and req.job_id:
        store.add_row_errors(settings, job_id=req.job_id, errors=(e.as_dict() for e in errors))
    return _result(req, layout, applied, total, errors, findings, started, progress)


def _describe(req: ImportRequest, layout: Layout) -> str:
    columns = "; ".join(f"{h} → {t if t else 'ignored'}" for h, t in layout.plan.mapping.items())
    return (
        f"Reading {req.filename or req.path.name}: {layout.table.describe()}, "
        f"header on row {layout.header_row}; columns: {columns}"
    )


def _result(
    req: ImportRequest,
    layout: Layout,
    applied: Applied,
    total: int,
    errors: list[RowError],
    findings: dict[str, int] | None,
    started: float,
    progress: Progress,
) -> dict[str, Any]:
    preview = req.preview
    verbs = (
        ("to create", "to update", "unchanged") if preview else ("created", "updated", "unchanged")
    )
    summary = (
        f"{'Preview' if preview else 'Import complete'}: {applied.created:,} {verbs[0]}, "
        f"{applied.updated:,} {verbs[1]}, {applied.unchanged:,} unchanged"
        + (f", {applied.skipped:,} rows skipped" if applied.skipped else "")
    )
    if findings:
        summary += "; findings: " + ", ".join(f"{n:,} {s}" for s, n in findings.items())
    progress.update_progress(total, total, summary, percent=100)
    return (
        {
            "status": "SUCCESS",
            "summary": summary,
            "project_id": req.project_key,
            "mode": req.mode,
            "preview": preview,
            "dry_run": preview,
            "created_count": applied.created,
            "updated_count": applied.updated,
            "unchanged_count": applied.unchanged,
            "skipped_count": applied.skipped,
            "total_rows": total,
            "error_count": len(errors),
            "errors": [e.as_dict() for e in errors[:ERRORS_IN_RESULT]],
            "kind": layout.table.kind,
            "sheet": layout.table.sheet,
            "header_row": layout.header_row,
            "mapping": layout.plan.mapping,
            "duration_seconds": round(time.perf_counter() - started, 3),
        }
        | ({"commit_of": req.commit_of} if req.commit_of else {})
        | ({} if preview else {"findings": findings or dict.fromkeys(SEVERITIES, 0)})
    )


def _every(total_estimate: int) -> int:
    """Rows between progress updates: about 50 updates a file, never fewer than 500 rows."""
    return max(500, total_estimate // 50)


def _stage(
    req: ImportRequest,
    layout: Layout,
    stager: Stager,
    progress: Progress,
    errors: list[RowError],
    skipped: list[tuple[int, str]],
) -> int:
    """Validate every record; stage the valid ones. Returns how many records there were."""
    validator = RowValidator(layout.plan)
    estimate = layout.table.estimate_rows()
    every = _every(estimate)
    tag_at = layout.plan.tag
    batch: list[Row] = []
    total = 0
    writing = True
    for row_no, fields in layout.records:
        total += 1
        parsed, row_errors = validator.check(row_no, fields)
        if row_errors:
            errors.extend(row_errors)
            skipped.append((row_no, fields[tag_at].strip() if tag_at < len(fields) else ""))
            # All-or-nothing: once a row fails, keep validating but stop staging.
            writing = req.skip_invalid
        elif writing and parsed is not None:
            batch.append((row_no, *parsed))
            if len(batch) >= BATCH:
                stager.add(batch)
                batch = []
        if total % every == 0:
            shown = max(estimate, total)
            progress.update_progress(
                total,
                shown,
                f"Validated {total:,}/{shown:,} rows...",
                percent=total * READ_SHARE // shown,
            )
    if batch and writing:
        stager.add(batch)
    return total


def _reject(settings: Settings, req: ImportRequest, errors: list[RowError], total: int) -> None:
    """Record every row error and fail the job: nothing was written."""
    if req.job_id:
        store.add_row_errors(settings, job_id=req.job_id, errors=(e.as_dict() for e in errors))
    rows = len({e.row for e in errors})
    first = errors[0]
    where = f"row {first.row}" + (f", column {first.column}" if first.column else "")
    raise InvalidInput(
        f"{rows:,} of {total:,} rows are invalid; nothing was imported "
        f"(first: {where}: {first.reason})",
        details={
            "status": "FAILURE",
            "project_id": req.project_key,
            "mode": req.mode,
            "total_rows": total,
            "error_count": len(errors),
            "invalid_rows": rows,
            "errors": [e.as_dict() for e in errors[:ERRORS_IN_RESULT]],
        },
    )
