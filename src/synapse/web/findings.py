"""The Findings page: totals by severity, filters (severity, rule, tag, asset type), paging,
each finding linking to its asset, and an .xlsx export of what the filters select."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from synapse.api.deps import SessionDep
from synapse.errors import InvalidInput, NotFound
from synapse.projects import get_project
from synapse.rules import store
from synapse.rules.findings_export import FindingFilter, find
from synapse.rules.schemas import SEVERITIES
from synapse.web.imports import chosen_project, visible_projects
from synapse.web.views import PagePrincipal, render

router: APIRouter = APIRouter(include_in_schema=False)
PAGE = 50
MAX_RULES = 1000


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text else None
    except ValueError:
        return None


@router.get("/findings", response_class=HTMLResponse)
def findings_page(request: Request, session: SessionDep, principal: PagePrincipal) -> Response:
    projects = visible_projects(session, principal)
    project = chosen_project(request, projects)
    q = request.query_params
    flt = FindingFilter(
        severity=(q.get("severity") or "").strip() or None,
        rule_id=_int(q.get("rule_id")),
        rule=(q.get("rule") or "").strip() or None,
        tag=(q.get("tag") or "").strip() or None,
        type=(q.get("type") or "").strip() or None,
    )
    offset = max(_int(q.get("offset")) or 0, 0)
    context: dict[str, Any] = {"page": None, "problem": None, "rule_names": []}
    if project and not principal.sees(project):
        context["problem"] = f"project {project} not found"
    elif project:
        try:
            context["page"] = find(session, project, flt, limit=PAGE, offset=offset)
            found = get_project(session, project)
            rules, _ = store.list_rules(session, found.id, limit=MAX_RULES, offset=0)
            context["rule_names"] = [r.name for r in rules]
        except NotFound:
            context["problem"] = f"project {project} has no assets or rules yet"
        except InvalidInput as exc:
            context["problem"] = str(exc)
    query = flt.query()

    def link(**changes: Any) -> str:
        params = {"project": project, **query, **changes}
        return "?" + urlencode({k: v for k, v in params.items() if v not in (None, "", 0)})

    export = f"/api/v1/projects/{quote(project, safe='')}/findings/export.xlsx" + (
        ("?" + urlencode(query)) if query else ""
    )
    response = render(
        request,
        "findings.html",
        principal,
        projects=projects,
        project=project,
        flt=flt,
        severities=SEVERITIES,
        link=link,
        export=export,
        offset=offset,
        limit=PAGE,
        **context,
    )
    if project and not principal.sees(project):
        response.status_code = 404
    return response
