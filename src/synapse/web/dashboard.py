"""The operators' Dashboard (throughput, failures, durations, queue latency) and Audit pages.

The Dashboard is a shell: its script reads `/api/v1/stats/*` and draws with uPlot (vendored
under static/vendor/uplot). The Audit page is rendered here, filters and paging as links.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import distinct, select

from synapse import audit, stats
from synapse.api.deps import SessionDep
from synapse.db.models import AuditEvent
from synapse.errors import InvalidInput
from synapse.web.views import PagePrincipal, render

router: APIRouter = APIRouter(include_in_schema=False)

AUDIT_PAGE = 50


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard_page(request: Request, principal: PagePrincipal, window: str = "24h") -> Response:
    return render(
        request,
        "dashboard.html",
        principal,
        window=window if window in stats.WINDOWS else "24h",
        windows=list(stats.WINDOWS),
    )


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    session: SessionDep,
    principal: PagePrincipal,
    actor: str = "",
    action: str = "",
    since: str = "",
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    if not principal.is_admin:
        response = render(request, "audit.html", principal, forbidden=True)
        response.status_code = 403
        return response
    error = None
    try:
        events, total = audit.list_events(
            session,
            limit=AUDIT_PAGE,
            offset=offset,
            actor=actor or None,
            action=audit.checked_action(action),
            since=audit.parse_since(since),
        )
    except InvalidInput as exc:
        events, total, error = [], 0, str(exc)
    filters = {"actor": actor, "action": action, "since": since}

    def page_url(at: int) -> str:
        query = {k: v for k, v in {**filters, "offset": at}.items() if v}
        return "/audit" + (f"?{urlencode(query)}" if query else "")

    actors = sorted(session.scalars(select(distinct(AuditEvent.actor))).all())
    return render(
        request,
        "audit.html",
        principal,
        forbidden=False,
        events=[audit.as_dict(e) for e in events],
        total=total,
        offset=offset,
        limit=AUDIT_PAGE,
        filters=filters,
        actors=actors,
        actions=audit.ACTIONS,
        error=error,
        newer=page_url(max(0, offset - AUDIT_PAGE)) if offset > 0 else None,
        older=page_url(offset + AUDIT_PAGE) if offset + AUDIT_PAGE < total else None,
    )
