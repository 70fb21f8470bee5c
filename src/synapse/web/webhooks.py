"""The Webhooks page (admins): the hooks, a form to add one (its secret shown once), Send test,
Delete, and each hook's delivery log. It reads the same services as `/api/v1/webhooks`; its
script (static/webhooks.js) acts through that API and refreshes the log every few seconds."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from synapse.api.deps import MAX_INT64, SessionDep
from synapse.web.views import PagePrincipal, render
from synapse.webhooks import service

router: APIRouter = APIRouter(include_in_schema=False)

LOG_ROWS = 50


@router.get("/webhooks", response_class=HTMLResponse)
def webhooks_page(
    request: Request,
    session: SessionDep,
    principal: PagePrincipal,
    hook: Annotated[int | None, Query(ge=1, le=MAX_INT64)] = None,
) -> Response:
    if not principal.is_admin:
        response = render(request, "webhooks.html", principal, forbidden=True)
        response.status_code = 403
        return response
    hooks = [
        {**service.as_dict(h), "pending": service.pending_of(session, h.id)}
        for h in service.list_hooks(session)
    ]
    chosen = next((h for h in hooks if h["id"] == hook), hooks[0] if hooks else None)
    log: list[dict[str, object]] = []
    total = 0
    if chosen is not None:
        log, total = service.attempts_of(session, int(chosen["id"]), limit=LOG_ROWS, offset=0)
    return render(
        request,
        "webhooks.html",
        principal,
        forbidden=False,
        hooks=hooks,
        chosen=chosen,
        log=log,
        total=total,
        events=service.EVENTS,
    )
