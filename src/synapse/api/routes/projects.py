"""Projects and their assets."""

from __future__ import annotations

from fastapi import APIRouter

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
    type: str | None = None,
    q: str | None = None,
) -> AssetList:
    """Assets of a project by tag, paginated, with the `total`; filter by `type` or tag text `q`."""
    check_project(principal, project_id)
    project = get_project(session, project_id)
    rows, total = list_assets(session, project, limit=limit, offset=offset, asset_type=type, q=q)
    return AssetList(
        items=[AssetPublic.of(a) for a in rows], total=total, limit=limit, offset=offset
    )
