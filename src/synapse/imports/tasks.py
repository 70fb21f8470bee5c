"""The import task: a thin edge over `run_import`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from celery import shared_task

from synapse.config import get_settings
from synapse.imports.service import ImportRequest, run_import
from synapse.jobs.task import JobTask


@shared_task(base=JobTask, bind=True, name="import_csv_assets")  # type: ignore[untyped-decorator]
def import_csv_assets(
    self: JobTask,
    project_id: str,
    file_path: str,
    mode: str = "upsert",
    skip_invalid: bool = False,
    filename: str | None = None,
) -> dict[str, Any]:
    """Import assets from a CSV file (the spec's task, with modes and every row error)."""
    request = ImportRequest(
        project_key=project_id,
        path=Path(file_path),
        mode=mode,
        skip_invalid=skip_invalid,
        job_id=self.request.id,
        filename=filename,
    )
    result = run_import(get_settings(), request, self.job)
    if filename:
        result["filename"] = filename
    return result
