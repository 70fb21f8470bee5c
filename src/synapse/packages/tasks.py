"""The package tasks: thin edges over `run_package` and `render_chunk`."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from synapse.config import get_settings
from synapse.jobs import fairshare
from synapse.jobs.task import JobTask
from synapse.packages.chunk_render import ChunkRef, render_chunk
from synapse.packages.options import package_job
from synapse.packages.service import run_package

log = logging.getLogger("synapse.packages")
CHUNK_TASK = "synapse.render_package_chunk"


@shared_task(base=JobTask, bind=True, name="generate_package")  # type: ignore[untyped-decorator]
def generate_package(
    self: JobTask, project_id: str, package_type: str, options: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Generate an engineering package (Excel workbook and/or PDF), as in the spec."""
    job = package_job(
        project_key=project_id, package_type=package_type, options=options, job_id=self.request.id
    )
    queue = (self.request.delivery_info or {}).get("routing_key") or "bulk"
    attempt = self.job.attempt

    def dispatch(index: int) -> None:
        render_package_chunk.apply_async(
            args=(job.job_id, attempt, index), kwargs={"project_id": project_id}, queue=queue
        )

    return run_package(get_settings(), job, self.job, dispatch=dispatch, attempt=attempt)


# Not a job of its own: the parent job is the one people see. acks_late and
# reject_on_worker_lost (as every task here): a chunk whose process dies is delivered again and
# drawn again, alone; its claim (chunks.Board) lets exactly one process draw it.
@shared_task(  # type: ignore[untyped-decorator]
    name=CHUNK_TASK, ignore_result=True, acks_late=True, reject_on_worker_lost=True
)
def render_package_chunk(
    job_id: str, attempt: int, index: int, project_id: str | None = None
) -> bool:
    """Draw chunk `index` of package job `job_id` (attempt `attempt`), unless someone is, or
    the package's project holds all its slots (fair share): then the package draws it itself."""
    settings = get_settings()
    try:
        if not fairshare.helper_may_run(settings, project_id):
            log.info(
                "package %s: chunk %d left to the package (project at its limit)", job_id, index
            )
            return False
        return render_chunk(settings, ChunkRef(job_id, attempt, index))
    except Exception:  # recorded on the board; the parent fails the package with it
        log.exception("package %s: chunk %d failed", job_id, index)
        return False
