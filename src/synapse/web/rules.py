"""The Rules page: a project's rules with their findings counts; the editor checks the condition
as one types (POST .../rules/check); enable/disable, delete and Run go through the rules API."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from synapse.api.deps import SessionDep
from synapse.auth import Principal
from synapse.errors import NotFound
from synapse.projects import get_project
from synapse.rules import crud, store
from synapse.rules.findings_export import counts_by_rule
from synapse.rules.schemas import SEVERITIES
from synapse.web.imports import chosen_project, visible_projects
from synapse.web.views import PagePrincipal, render

router: APIRouter = APIRouter(include_in_schema=False)
MAX_RULES = 1000


def _rules_of(session: Session, principal: Principal, project: str) -> dict[str, Any]:
    """The project's rules, each with its findings by severity; `problem` when there is none."""
    if not project:
        return {"rules": [], "problem": None}
    if not principal.sees(project):
        return {"rules": [], "problem": f"project {project} not found"}
    try:
        found = get_project(session, project)
    except NotFound:
        return {"rules": [], "problem": None, "new_project": True}
    rows, _ = store.list_rules(session, found.id, limit=MAX_RULES, offset=0)
    counts = counts_by_rule(session, found.id)
    rules = []
    for rule in rows:
        public = crud.public(rule, found.key).model_dump(mode="json")
        by = counts.get(rule.id, {})
        public["findings"] = {s: by.get(s, 0) for s in SEVERITIES}
        public["findings_total"] = sum(by.values())
        rules.append(public)
    return {"rules": rules, "problem": None}


@router.get("/rules", response_class=HTMLResponse)
def rules_page(request: Request, session: SessionDep, principal: PagePrincipal) -> Response:
    projects = visible_projects(session, principal)
    project = chosen_project(request, projects)
    context = _rules_of(session, principal, project)
    response = render(
        request, "rules.html", principal, projects=projects, project=project, **context
    )
    if context["problem"]:
        response.status_code = 404
    return response


@router.get("/ui/rules/rows", response_class=HTMLResponse)
def rules_rows(request: Request, session: SessionDep, principal: PagePrincipal) -> Response:
    """The rules table's body alone: what the page's script swaps in after a change."""
    project = (request.query_params.get("project") or "").strip()
    context = _rules_of(session, principal, project)
    response = render(request, "_rules_rows.html", principal, project=project, **context)
    if context["problem"]:
        response.status_code = 404
    return response
