"""The import and undo tasks: thin edges over `run_import` and `run_undo`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from celery import shared_task

from synapse.config import get_settings
from synapse.imports.service import ImportRequest, run_import
from synapse.imports.undo import run_undo
from synapse.jobs.task import JobTask
from synapse.rules.service import project_has_rules, run_rules
from synapse.rules.store import WrittenBy


@shared_task(base=JobTask, bind=True, name="import_csv_assets")  # type: ignore[untyped-decorator]
def import_csv_assets(
    self: JobTask,
    project_id: str,
    file_path: str,
    mode: str = "upsert",
    skip_invalid: bool = False,
    filename: str | None = None,
    sheet: str | int | None = None,
    header_row: int | None = None,
    mapping: dict[str, str | None] | None = None,
    commit_of: str | None = None,
) -> dict[str, Any]:
    """Import assets from a CSV file or a workbook (the spec's task, with modes, column mapping,
    preview and commit, every row error and a ledger of every change)."""
    request = ImportRequest(
        project_key=project_id,
        path=Path(file_path),
        mode=mode,
        skip_invalid=skip_invalid,
        job_id=self.request.id,
        filename=filename,
        sheet=sheet,
        header_row=header_row,
        mapping=mapping,
        commit_of=commit_of,
    )
    result = run_import(get_settings(), request, self.job)
    if filename:
        result["filename"] = filename
    return result


@shared_task(base=JobTask, bind=True, name="undo_import")  # type: ignore[untyped-decorator]
def undo_import(self: JobTask, project_id: str, import_job_id: str) -> dict[str, Any]:
    """Reverse one import: its created assets deleted, its updated ones restored."""
    settings = get_settings()
    job = self.job
    job.update_progress(0, 0, f"Undoing import {import_job_id[:8]}...")
    result = run_undo(
        settings,
        import_job_id=import_job_id,
        job_id=self.request.id,
        checkpoint=job.checkpoint,
        committed=lambda: job.past_point_of_no_return("the undo was written"),
    )
    if result["restored_count"] and project_has_rules(settings, project_id):
        ran = run_rules(
            settings, project_id, job, WrittenBy(self.request.id), job_id=self.request.id,
            span=(50, 99),
        )  # fmt: skip
        result["findings"] = ran["findings"]
    for conflict in result["conflicts"][:20]:
        job.log("WARNING", f"{conflict['tag']} left as it is: {conflict['reason']}")
    return result
