"""The package task: a thin edge over `run_package`."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from synapse.config import get_settings
from synapse.jobs.task import JobTask
from synapse.packages.options import package_job
from synapse.packages.service import run_package


@shared_task(base=JobTask, bind=True, name="generate_package")  # type: ignore[untyped-decorator]
def generate_package(
    self: JobTask, project_id: str, package_type: str, options: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Generate an engineering package (Excel workbook and/or PDF), as in the spec."""
    job = package_job(
        project_key=project_id, package_type=package_type, options=options, job_id=self.request.id
    )
    return run_package(get_settings(), job, self.job)
