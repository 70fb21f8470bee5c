"""The spec's ingestion endpoints, unchanged in path and shape."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile
from starlette.concurrency import run_in_threadpool

from synapse.api.deps import CeleryDep, RunAtDep, SessionDep, SettingsDep
from synapse.api.idempotency import IDEMPOTENT, IdempotentRoute
from synapse.api.schemas import UploadAccepted, spec_status
from synapse.api.security import PrincipalDep, check_project, visible_job
from synapse.imports.inspect import inspect_upload
from synapse.imports.upload import submit_import

router = APIRouter(prefix="/api/v1/ingestion", tags=["ingestion"], route_class=IdempotentRoute)


FileField = Annotated[UploadFile | None, File(description="the CSV file or .xlsx/.xlsm workbook")]
UploadIdField = Annotated[
    str | None, Form(max_length=64, description="instead of `file`: an earlier inspect's upload")
]
SheetField = Annotated[
    str | None, Form(max_length=200, description="workbook sheet: name or 1-based number")
]
HeaderRowField = Annotated[
    str | None, Form(max_length=10, description="1-based header row (default: detected)")
]
MappingField = Annotated[
    str | None,
    Form(
        max_length=200_000,
        description='JSON: column header -> "tag", "type", "prop:<name>" or null (ignore)',
    ),
]


@router.post(
    "/upload-csv", status_code=202, response_model=UploadAccepted, dependencies=[IDEMPOTENT]
)
async def upload_csv(
    settings: SettingsDep,
    celery: CeleryDep,
    principal: PrincipalDep,
    project_id: Annotated[str, Form(description="project key; an unknown key creates it")],
    file: FileField = None,
    upload_id: UploadIdField = None,
    priority: Annotated[str, Form()] = "default",
    mode: Annotated[
        str, Form(description="upsert, insert or preview (dry_run: the same as preview)")
    ] = "upsert",
    skip_invalid: Annotated[bool, Form(description="import the valid rows, list the rest")] = False,
    sheet: SheetField = None,
    header_row: HeaderRowField = None,
    mapping: MappingField = None,
    filename: Annotated[
        str | None, Form(max_length=300, description="with upload_id: the file's name, shown")
    ] = None,
    run_at: RunAtDep = None,
) -> UploadAccepted:
    """Store the upload and queue its import; answers at once with the job id."""
    check_project(principal, project_id.strip())
    job = await run_in_threadpool(
        submit_import,
        settings=settings,
        celery=celery,
        project_key=project_id,
        src=file.file if file is not None else None,
        filename=file.filename if file is not None else filename,
        priority=priority,
        mode=mode,
        skip_invalid=skip_invalid,
        submitted_by=principal.id,
        upload_id=upload_id,
        sheet=sheet,
        header_row=header_row,
        mapping=mapping,
        run_at=run_at,
    )
    return UploadAccepted.of(job, "Preview" if mode in ("preview", "dry_run") else "Import")


@router.post("/inspect")
async def inspect(
    settings: SettingsDep,
    principal: PrincipalDep,
    project_id: Annotated[str, Form(description="the project the file is for")],
    file: FileField = None,
    upload_id: UploadIdField = None,
    filename: Annotated[str | None, Form(max_length=300)] = None,
    sheet: SheetField = None,
    header_row: HeaderRowField = None,
    mapping: MappingField = None,
) -> dict[str, Any]:
    """A look at a file before importing it: its sheets, the header row, the columns with a
    sample, and the mapping that would be used (remembered for this layout, else automatic).
    The file is kept: later calls and the upload pass `upload_id` instead of sending it again."""
    check_project(principal, project_id.strip())
    return await run_in_threadpool(
        inspect_upload,
        settings=settings,
        project_key=project_id,
        src=file.file if file is not None else None,
        filename=file.filename if file is not None else filename,
        upload_id=upload_id,
        sheet=sheet,
        header_row=header_row,
        mapping=mapping,
    )


@router.get("/job-status/{job_id}")
def job_status(job_id: str, session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    """PENDING, PROGRESS with percent, SUCCESS with result, FAILURE with error; unknown: 404."""
    return spec_status(visible_job(session, job_id, principal))
