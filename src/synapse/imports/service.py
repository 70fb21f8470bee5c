"""The CSV import: read, validate every row, stage in bulk, merge all-or-nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from synapse.config import Settings
from synapse.db.engine import get_engine, session_scope
from synapse.errors import InvalidInput
from synapse.imports import reader
from synapse.imports.validate import RowError, RowValidator
from synapse.imports.writer import Row, open_stager
from synapse.jobs import store
from synapse.projects import ensure_project
from synapse.rules.schemas import SEVERITIES
from synapse.rules.service import run_rules
from synapse.rules.store import has_enabled_rules

MODES = ("upsert", "insert", "dry_run")
BATCH = 5_000
ERRORS_IN_RESULT = 100
# Share of the progress bar given to reading and validating; the merge takes the rest.
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


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise InvalidInput(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    return mode


def _every(total_estimate: int) -> int:
    """Rows between progress updates: about 50 updates a file, never fewer than 500 rows."""
    return max(500, total_estimate // 50)


def run_import(settings: Settings, req: ImportRequest, progress: Progress) -> dict[str, Any]:
    started = time.perf_counter()
    check_mode(req.mode)
    progress.update_progress(0, 0, "Reading CSV file...")
    fmt = reader.sniff(req.path)
    estimate = reader.estimate_rows(req.path)
    progress.log(
        "INFO",
        f"Reading {req.filename or req.path.name}: {fmt.encoding}, delimiter {fmt.delimiter!r}, "
        f"columns {', '.join(h for h in fmt.header if h)}",
    )
    with session_scope(settings) as session:
        project_id = ensure_project(session, req.project_key).id
        rules_on = req.mode != "dry_run" and has_enabled_rules(session, project_id)

    errors: list[RowError] = []
    touched: list[str] | None = None
    stager = open_stager(get_engine(settings), project_id)
    try:
        total, staged = _stage(req, fmt, estimate, stager, progress, errors)
        if req.mode == "insert":
            for row, tag in stager.existing_tags():
                errors.append(RowError(row, "tag", tag, "tag already exists in the project"))
            errors.sort(key=lambda e: e.row)
        if errors and not req.skip_invalid:
            _reject(settings, req, errors, total)
        if total == 0:
            raise InvalidInput("the file has a header but no data rows")
        progress.update_progress(
            total, total, f"Validated {total:,} rows; writing assets...", percent=READ_SHARE
        )
        if req.mode == "dry_run":
            existing = stager.count_existing()
        else:
            touched = stager.staged_tags() if rules_on else None
            existing = stager.merge(upsert=req.mode == "upsert")
    finally:
        stager.close()
    findings = None
    if rules_on:  # the last stage: the project's rules on the assets this import wrote
        ran = run_rules(
            settings, req.project_key, progress, touched, job_id=req.job_id, span=(READ_SHARE, 99)
        )
        findings = ran["findings"]

    if errors and req.job_id:
        store.add_row_errors(settings, job_id=req.job_id, errors=(e.as_dict() for e in errors))
    created = staged - existing
    updated = 0 if req.mode == "insert" else existing
    dry = req.mode == "dry_run"
    done, new, changed = (
        ("checked", "to create", "to update") if dry else ("complete", "created", "updated")
    )
    summary = f"Import {done}: {created:,} {new}, {updated:,} {changed}" + (
        f", {len(errors):,} rows skipped" if errors else ""
    )
    if findings:
        summary += "; findings: " + ", ".join(f"{n:,} {s}" for s, n in findings.items())
    progress.update_progress(total, total, summary, percent=100)
    return {
        "status": "SUCCESS",
        "summary": summary,
        "project_id": req.project_key,
        "mode": req.mode,
        "dry_run": dry,
        "created_count": created,
        "updated_count": updated,
        "total_rows": total,
        "error_count": len(errors),
        "errors": [e.as_dict() for e in errors[:ERRORS_IN_RESULT]],
        "duration_seconds": round(time.perf_counter() - started, 3),
    } | ({} if dry else {"findings": findings or dict.fromkeys(SEVERITIES, 0)})


def _stage(
    req: ImportRequest,
    fmt: reader.CsvFormat,
    estimate: int,
    stager: Any,
    progress: Progress,
    errors: list[RowError],
) -> tuple[int, int]:
    """Validate every record; stage the valid ones. Returns (records, staged rows)."""
    validator = RowValidator(fmt.header)
    every = _every(estimate)
    batch: list[Row] = []
    total = staged = 0
    writing = True
    records: Iterator[tuple[int, list[str]]] = reader.iter_records(req.path, fmt)
    for row_no, fields in records:
        total += 1
        parsed, row_errors = validator.check(row_no, fields)
        if row_errors:
            errors.extend(row_errors)
            # All-or-nothing: once a row fails, keep validating but stop staging.
            writing = req.skip_invalid
        elif writing and parsed is not None:
            batch.append((row_no, *parsed))
            if len(batch) >= BATCH:
                stager.add(batch)
                staged += len(batch)
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
        staged += len(batch)
    return total, staged


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
