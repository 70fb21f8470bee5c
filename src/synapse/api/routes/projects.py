"""Projects and their assets."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from synapse.api.deps import LimitQ, OffsetQ, SessionDep
from synapse.api.schemas import AssetList, AssetPublic, ProjectList, ProjectPublic
from synapse.api.security import PrincipalDep, check_project
from synapse.projects import get_project, list_assets, list_projects

router = APIRouter(prefix="/api/v1/projects", tags=["projects"])


@router.get("", response_model=ProjectList)
def projects(
    session: SessionDep, principal: PrincipalDep, limit: LimitQ = 100, offset: OffsetQ = 0
) -> ProjectList:
    """The projects the caller may see, with their asset counts."""
    rows, total = list_projects(session, scope=principal.project_scope, limit=limit, offset=offset)
    items = [
        ProjectPublic(key=p.key, name=p.name, asset_count=n, created_at=p.created_at)
        for p, n in rows
    ]
    return ProjectList(items=items, total=total, limit=limit, offset=offset)


@router.get("/{project_id}/assets", response_model=AssetList)
def project_assets(
    project_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    limit: LimitQ = 100,
    offset: OffsetQ = 0,
    type: Annotated[str | None, Query(max_length=100)] = None,
    q: Annotated[str | None, Query(max_length=100, description="text in the tag")] = None,
    prop: Annotated[
        str | None, Query(max_length=300, description="`name=value`, or `name`: has it")
    ] = None,
) -> AssetList:
    """Assets of a project by tag, paginated, with the `total`; filter by `type`, tag text `q`
    or a property `prop`."""
    check_project(principal, project_id)
    project = get_project(session, project_id)
    rows, total = list_assets(
        session, project, limit=limit, offset=offset, asset_type=type, q=q, prop=prop
    )
    return AssetList(
        items=[AssetPublic.of(a) for a in rows], total=total, limit=limit, offset=offset
    )
