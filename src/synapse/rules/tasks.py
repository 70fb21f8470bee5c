"""The rules task: a thin edge over `run_rules`."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from synapse.config import get_settings
from synapse.jobs.task import JobTask
from synapse.rules import service


@shared_task(base=JobTask, bind=True, name="run_rules")  # type: ignore[untyped-decorator]
def run_rules(self: JobTask, project_id: str) -> dict[str, Any]:
    """Apply the project's enabled rules to all its assets; findings replace the previous ones."""
    return service.run_rules(get_settings(), project_id, self.job, job_id=self.request.id)
