"""The operators' pages for queues and workers (docs/queues-and-workers.md). Both read the same
services as `GET /api/v1/queues` and `GET /api/v1/workers`, and their script (static/ops.js)
refreshes them from those endpoints every few seconds."""

from __future__ import annotations

import redis
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from synapse.api.deps import SessionDep, SettingsDep
from synapse.db.models import utcnow
from synapse.jobs import queues, workers
from synapse.web.views import PagePrincipal, render

router: APIRouter = APIRouter(include_in_schema=False)

REFRESH_SECONDS = 3


def wait_text(seconds: float) -> str:
    """12 s, 3 min 4 s, 2 h 5 min (ops.js writes the same)."""
    if seconds <= 0:
        return "—"
    if seconds < 60:
        return f"{int(seconds + 0.999)} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    return f"{minutes // 60} h {minutes % 60} min"


def megabytes(size: int) -> str:
    return f"{size / 1_048_576:,.0f} MB"


@router.get("/queues", response_class=HTMLResponse)
def queues_page(
    request: Request, session: SessionDep, settings: SettingsDep, principal: PagePrincipal
) -> Response:
    now = utcnow()
    items = [queues.as_dict(info) for info in queues.queue_stats(session, settings, now=now)]
    for item in items:
        since = item["paused_at"]
        item["paused_for"] = wait_text(max(1.0, (now - since).total_seconds())) if since else ""
    return render(
        request,
        "queues.html",
        principal,
        items=items,
        wait_text=wait_text,
        refresh=REFRESH_SECONDS,
    )


@router.get("/workers", response_class=HTMLResponse)
def workers_page(
    request: Request, session: SessionDep, settings: SettingsDep, principal: PagePrincipal
) -> Response:
    problem = None
    try:
        found = workers.list_workers(settings)
    except redis.RedisError as exc:  # the page still answers, saying why the list is empty
        found, problem = [], f"Redis cannot be reached, so the workers are not known: {exc}"
    items = [workers.as_dict(info) for info in found]
    if not principal.is_admin:
        visible = workers.visible_jobs(session, [i for w in found for i in w.active], principal)
        for item in items:
            item["active"] = [i for i in item["active"] if i in visible]
    return render(
        request,
        "workers.html",
        principal,
        items=items,
        megabytes=megabytes,
        refresh=REFRESH_SECONDS,
        problem=problem,
    )
