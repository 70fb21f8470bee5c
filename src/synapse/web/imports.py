"""The Import page (a guided import: file, sheet and header, mapping, preview, commit) and the
Imports page (a project's imports, newest first, with Undo). Shells: their scripts call the API."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from synapse.api.deps import SessionDep
from synapse.auth import Principal
from synapse.projects import list_projects
from synapse.web.views import PagePrincipal, render

router: APIRouter = APIRouter(include_in_schema=False)


def visible_projects(session: Session, principal: Principal) -> list[dict[str, Any]]:
    """The projects the caller sees, by key, with their asset counts (for choosers)."""
    rows, _ = list_projects(session, scope=principal.project_scope)
    return [{"key": p.key, "name": p.name, "assets": n} for p, n in rows]


def chosen_project(request: Request, projects: list[dict[str, Any]]) -> str:
    """`?project=` trimmed; with none given and a single project visible, that one."""
    key = (request.query_params.get("project") or "").strip()
    if not key and len(projects) == 1:
        return str(projects[0]["key"])
    return key


@router.get("/import", response_class=HTMLResponse)
def import_page(request: Request, session: SessionDep, principal: PagePrincipal) -> Response:
    projects = visible_projects(session, principal)
    return render(
        request,
        "import.html",
        principal,
        projects=projects,
        project=(request.query_params.get("project") or "").strip(),
        may_create=principal.is_admin,
        max_mb=request.app.state.settings.max_upload_mb,
    )


@router.get("/upload")
def upload_page(request: Request) -> Response:
    """The former Upload CSV page: the Import page took its place."""
    query = f"?{request.url.query}" if request.url.query else ""
    return RedirectResponse(f"/import{query}", status_code=307)


@router.get("/imports", response_class=HTMLResponse)
def imports_page(request: Request, session: SessionDep, principal: PagePrincipal) -> Response:
    projects = visible_projects(session, principal)
    return render(
        request,
        "imports.html",
        principal,
        projects=projects,
        project=chosen_project(request, projects),
    )
