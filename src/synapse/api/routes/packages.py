"""Engineering packages of a project: queued as jobs, their files downloadable."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body
from starlette.concurrency import run_in_threadpool

from synapse.api.deps import CeleryDep, RunAtDep, SettingsDep
from synapse.api.idempotency import IDEMPOTENT, IdempotentRoute
from synapse.api.schemas import UploadAccepted
from synapse.api.security import PrincipalDep, check_project
from synapse.packages.service import submit_package

router = APIRouter(prefix="/api/v1/projects", tags=["packages"], route_class=IdempotentRoute)

EXAMPLE = {
    "package_type": "full",
    "options": {"formats": ["xlsx", "pdf"], "asset_types": [], "title": "IFC", "revision": "B"},
    "priority": "bulk",
}


@router.post(
    "/{project_id}/packages",
    status_code=202,
    response_model=UploadAccepted,
    dependencies=[IDEMPOTENT],
)
async def create_package(
    project_id: str,
    settings: SettingsDep,
    celery: CeleryDep,
    principal: PrincipalDep,
    body: Annotated[
        dict[str, Any],
        Body(
            description=(
                "`package_type`: instrument_index, datasheets or full; `options`: `formats` "
                "(xlsx, pdf; default both), `asset_types` (default all), `title`, `revision`; "
                "`priority`: urgent, default or bulk (default)"
            ),
            examples=[EXAMPLE],
        ),
    ],
    run_at: RunAtDep = None,
) -> UploadAccepted:
    """Queue a package job (Excel workbook and/or PDF); answers at once with the job id."""
    check_project(principal, project_id)
    job = await run_in_threadpool(
        submit_package,
        settings=settings,
        celery=celery,
        project_key=project_id,
        body=body,
        submitted_by=principal.id,
        run_at=run_at,
    )
    return UploadAccepted.of(job, "Package")
