"""The spec's ingestion endpoints, unchanged in path and shape."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile
from starlette.concurrency import run_in_threadpool

from synapse.api.deps import CeleryDep, SessionDep, SettingsDep
from synapse.api.schemas import UploadAccepted, spec_status
from synapse.api.security import PrincipalDep, check_project, visible_job
from synapse.imports.upload import submit_import

router = APIRouter(prefix="/api/v1/ingestion", tags=["ingestion"])


@router.post("/upload-csv", status_code=202, response_model=UploadAccepted)
async def upload_csv(
    settings: SettingsDep,
    celery: CeleryDep,
    principal: PrincipalDep,
    file: Annotated[UploadFile, File(description="the CSV file")],
    project_id: Annotated[str, Form(description="project key; an unknown key creates it")],
    priority: Annotated[str, Form()] = "default",
    mode: Annotated[str, Form(description="upsert, insert or dry_run")] = "upsert",
    skip_invalid: Annotated[bool, Form(description="import the valid rows, list the rest")] = False,
) -> UploadAccepted:
    """Store the upload and queue its import; answers at once with the job id."""
    check_project(principal, project_id.strip())
    job = await run_in_threadpool(
        submit_import,
        settings=settings,
        celery=celery,
        project_key=project_id,
        src=file.file,
        filename=file.filename,
        priority=priority,
        mode=mode,
        skip_invalid=skip_invalid,
        submitted_by=principal.id,
    )
    return UploadAccepted(
        job_id=job.id,
        status="QUEUED",
        message=f"Import queued on {job.queue}; follow it on /ws/logs?job_id={job.id}",
    )


@router.get("/job-status/{job_id}")
def job_status(job_id: str, session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    """PENDING, PROGRESS with percent, SUCCESS with result, FAILURE with error; unknown: 404."""
    return spec_status(visible_job(session, job_id, principal))
