"""The Assets page (a project's assets: search, filter, paging) and an asset's page (its values
now and its history). The list and the history come from the API; the asset itself is read here."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from synapse.api.deps import SessionDep
from synapse.db.models import Asset, Project
from synapse.web.imports import chosen_project, visible_projects
from synapse.web.views import PagePrincipal, render

router: APIRouter = APIRouter(include_in_schema=False)


@router.get("/assets", response_class=HTMLResponse)
def assets_page(request: Request, session: SessionDep, principal: PagePrincipal) -> Response:
    projects = visible_projects(session, principal)
    return render(
        request,
        "assets.html",
        principal,
        projects=projects,
        project=chosen_project(request, projects),
    )


@router.get("/assets/{path:path}", response_class=HTMLResponse)
def asset_page(
    request: Request, path: str, session: SessionDep, principal: PagePrincipal
) -> Response:
    """`/assets/{project}/{tag}`, or `/assets/{tag}?project=` (a tag may hold a slash)."""
    project_key = (request.query_params.get("project") or "").strip()
    tag = path
    if not project_key:
        project_key, _, tag = path.partition("/")
    problem = None
    asset = None
    project = None
    if not tag or not project_key:
        problem = "Name a project and a tag: /assets/<project>/<tag>."
    elif not principal.sees(project_key):
        problem = f"project {project_key} not found"
    else:
        project = session.scalar(select(Project).where(Project.key == project_key))
        if project is None:
            problem = f"project {project_key} not found"
        else:
            asset = session.scalar(
                select(Asset).where(Asset.project_id == project.id, Asset.tag == tag)
            )
    response = render(
        request,
        "asset.html",
        principal,
        project=project_key,
        tag=tag,
        asset=asset,
        problem=problem,
    )
    if problem:
        response.status_code = 404
    return response
