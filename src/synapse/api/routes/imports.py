"""Imports people can trust: the change ledger of a job, commit of a preview, undo of an import,
an asset's history, the remembered column mappings and a project's imports."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request

from synapse import audit
from synapse.api.deps import CeleryDep, LimitQ, OffsetQ, RunAtDep, SessionDep, SettingsDep
from synapse.api.idempotency import IDEMPOTENT, IdempotentRoute
from synapse.api.schemas import UploadAccepted
from synapse.api.security import PrincipalDep, check_may_act, check_project, visible_job
from synapse.db.models import Job
from synapse.errors import NotFound
from synapse.imports import ledger, mappings, review
from synapse.projects import get_project

router = APIRouter(prefix="/api/v1", tags=["imports"], route_class=IdempotentRoute)

ActionQ = Annotated[
    Literal["created", "updated", "unchanged", "skipped"] | None,
    Query(description="only this action"),
]


@router.get("/jobs/{job_id}/changes")
def job_changes(
    job_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    action: ActionQ = None,
    limit: LimitQ = 100,
    offset: OffsetQ = 0,
) -> dict[str, Any]:
    """What an import (or its preview) does to each asset it looks at, by row: `created`,
    `updated` with `{field: {old, new}}`, `unchanged`, `skipped`; `counts` by action."""
    visible_job(session, job_id, principal)
    items, total = ledger.list_changes(session, job_id, action=action, limit=limit, offset=offset)
    return {
        "items": items,
        "total": total,
        "limit": limit,
        "offset": offset,
        "counts": ledger.counts_of(session, job_id),
    }


@router.post(
    "/jobs/{job_id}/commit",
    status_code=202,
    response_model=UploadAccepted,
    dependencies=[IDEMPOTENT],
)
def commit_preview(
    job_id: str,
    settings: SettingsDep,
    celery: CeleryDep,
    session: SessionDep,
    principal: PrincipalDep,
    request: Request,
    run_at: RunAtDep = None,
) -> UploadAccepted:
    """Queue the import a finished preview showed. If any asset it showed changed since, that
    import writes nothing and fails naming them. 409 when the job is no committable preview."""
    check_may_act(principal, visible_job(session, job_id, principal))
    job = review.submit_commit(
        settings=settings, celery=celery, job_id=job_id, by=principal.id, run_at=run_at
    )
    detail = {"job_id": job.id, "project_id": job.project_key}
    audit.record_by(session, principal, request, "import.commit", job_id, detail)
    return UploadAccepted.of(job, f"Commit of preview {job_id[:8]}")


@router.post(
    "/jobs/{job_id}/undo",
    status_code=202,
    response_model=UploadAccepted,
    dependencies=[IDEMPOTENT],
)
def undo_import(
    job_id: str,
    settings: SettingsDep,
    celery: CeleryDep,
    session: SessionDep,
    principal: PrincipalDep,
    request: Request,
    run_at: RunAtDep = None,
) -> UploadAccepted:
    """Queue the undo of a successful import: its created assets deleted, its updated ones
    restored; assets a later job changed are left alone and listed. 409 says why not."""
    if session.get(Job, job_id) is not None:
        check_may_act(principal, visible_job(session, job_id, principal))
    elif not principal.sees(review.pruned_project(session, job_id)):
        raise NotFound(f"job {job_id} not found")
    job = review.submit_undo(
        settings=settings, celery=celery, job_id=job_id, by=principal.id, run_at=run_at
    )
    detail = {"job_id": job.id, "project_id": job.project_key}
    audit.record_by(session, principal, request, "import.undo", job_id, detail)
    return UploadAccepted.of(job, f"Undo of import {job_id[:8]}")


@router.get("/projects/{project_id}/assets/{tag}/history")
def asset_history(
    project_id: str,
    tag: str,
    session: SessionDep,
    principal: PrincipalDep,
    limit: LimitQ = 100,
    offset: OffsetQ = 0,
) -> dict[str, Any]:
    """What jobs did to one asset, newest first: imports, rule `set` actions and undos."""
    check_project(principal, project_id)
    project = get_project(session, project_id)
    items, total = ledger.asset_history(session, project.id, tag, limit=limit, offset=offset)
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.get("/projects/{project_id}/mappings")
def project_mappings(
    project_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    limit: LimitQ = 100,
    offset: OffsetQ = 0,
) -> dict[str, Any]:
    """The column mappings used before in this project, one per header layout, newest first."""
    check_project(principal, project_id)
    project = get_project(session, project_id)
    items, total = mappings.list_mappings(session, project.id, limit=limit, offset=offset)
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.get("/projects/{project_id}/imports")
def project_imports(
    project_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    limit: LimitQ = 50,
    offset: OffsetQ = 0,
) -> dict[str, Any]:
    """The project's imports and undos, newest first, with whether each can be undone."""
    check_project(principal, project_id)
    get_project(session, project_id)
    items, total = review.list_imports(session, project_id, limit=limit, offset=offset)
    return {"items": items, "total": total, "limit": limit, "offset": offset}
