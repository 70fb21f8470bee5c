"""The admin pages: Job Queue, job detail, login; Import, Imports and Assets in their own modules.
Server-rendered, a little JavaScript."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from synapse import audit
from synapse.access import COOKIE, principal_of, visible_job
from synapse.api.deps import SessionDep, SettingsDep
from synapse.auth import Principal, authenticate
from synapse.errors import NotFound
from synapse.files import files_of_job
from synapse.jobs import store
from synapse.jobs.store import duration_seconds
from synapse.web import present
from synapse.web.queue import QueueFilter, group_page, queue_view

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters.update(present.FILTERS)
templates.env.globals.update(
    unit=present.unit,
    badge=present.BADGE,
    duration_of=duration_seconds,
    parameters=present.parameters,
)

router = APIRouter(include_in_schema=False)


class LoginRequired(Exception):
    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


def page_principal(request: Request) -> Principal:
    principal = principal_of(request)
    if principal is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target)
    return principal


PagePrincipal = Annotated[Principal, Depends(page_principal)]


async def login_redirect(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    return RedirectResponse(f"/login?next={quote(exc.next_url)}", status_code=303)


def _safe_next(value: str | None) -> str:
    return value if value and value.startswith("/") and not value.startswith("//") else "/"


def render(request: Request, name: str, principal: Principal | None, **context: Any) -> Response:
    return templates.TemplateResponse(
        request,
        name,
        {"principal": principal, "auth_on": bool(request.app.state.tokens), **context},
    )


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/") -> Response:
    return render(request, "login.html", None, next=_safe_next(next), error=None)


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request, token: Annotated[str, Form()], next: Annotated[str, Form()] = "/"
) -> Response:
    principal = authenticate(request.app.state.tokens, token.strip())
    if principal is None:
        return templates.TemplateResponse(
            request,
            "login.html",
            {"principal": None, "auth_on": True, "next": _safe_next(next),
             "error": "That token is not valid."},
            status_code=401,
        )  # fmt: skip
    audit.record_now(
        request.app.state.settings,
        actor=principal.id,
        action="token.login",
        target=principal.id,
        detail={"role": principal.role, "page": "login"},
        client=audit.client_address(request),
    )  # the token's fingerprint, never the token
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        COOKIE,
        token.strip(),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        max_age=12 * 3600,
    )
    return response


@router.post("/logout")
def logout() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response


def queue_filter(
    state: str = "all",
    type: str = "",
    project: str = "",
    since: str = "24h",
    q: str = "",
    submitted_by: str = "",
    cursor: str = "",
) -> QueueFilter:
    return QueueFilter(state, type, project, since, q, submitted_by, cursor)


QueueFilterDep = Annotated[QueueFilter, Depends(queue_filter)]


@router.get("/", response_class=HTMLResponse)
def queue_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: PagePrincipal,
    flt: QueueFilterDep,
) -> Response:
    view = queue_view(session, principal, flt, settings=settings)
    return render(request, "queue.html", principal, view=view, **present.ROW_HELPERS)


@router.get("/ui/queue/rows", response_class=HTMLResponse)
def queue_rows(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: PagePrincipal,
    flt: QueueFilterDep,
) -> Response:
    """The rows of the queue page alone: what its script swaps in on a change."""
    view = queue_view(session, principal, flt, settings=settings)
    return render(request, "_queue_rows.html", principal, view=view, **present.ROW_HELPERS)


@router.get("/ui/queue/more", response_class=HTMLResponse)
def queue_more(
    request: Request, session: SessionDep, principal: PagePrincipal, flt: QueueFilterDep
) -> Response:
    """The next page of one section (`state`, from `cursor`): its rows and the next link."""
    key = flt.state if flt.state in dict(present.GROUPS) else "completed"
    group = group_page(session, principal, flt, key, cursor=flt.cursor or None)
    view = {"filters": flt}
    return render(
        request, "_queue_more.html", principal, group=group, view=view, **present.ROW_HELPERS
    )


def _job_context(session: SessionDep, job_id: str, principal: Principal) -> dict[str, Any]:
    job = visible_job(session, job_id, principal)
    errors, error_total = store.list_row_errors(session, job_id, limit=100)
    logs, log_total = store.list_logs(session, job_id, limit=2000)
    return {
        "job": job,
        "logs": logs,
        "log_total": log_total,
        "row_errors": errors,
        "row_error_total": error_total,
        "files": _downloads(job, files_of_job(session, job_id)),
        "may_act": principal.is_admin or job.submitted_by == principal.id,
    }


def _downloads(job: Any, files: list[Any]) -> list[Any]:
    """A job's files to download: a package's snapshot of its asset values (what the next
    revision compares with, packages/snapshots.py) is kept, not offered."""
    snapshot = (job.result or {}).get("snapshot_file_id")
    return [f for f in files if f.id != snapshot] if snapshot else files


def _not_found(request: Request, principal: Principal, job_id: str) -> Response:
    response = render(request, "job_missing.html", principal, job_id=job_id)
    response.status_code = 404
    return response


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(
    request: Request, job_id: str, session: SessionDep, principal: PagePrincipal
) -> Response:
    """A job by its id, or by the 8 characters the lists show: one match goes to its page,
    several are listed, none (or another project's job) is a page that says so."""
    try:
        context = _job_context(session, job_id, principal)
    except NotFound:
        found = (
            store.find_by_prefix(session, job_id, projects=principal.project_scope)
            if 4 <= len(job_id) < 36
            else []
        )
        if len(found) == 1:
            return RedirectResponse(f"/jobs/{found[0].id}", status_code=303)
        if not found:
            return _not_found(request, principal, job_id)
        return render(
            request, "jobs_found.html", principal, prefix=job_id, jobs=found, **present.ROW_HELPERS
        )
    return render(request, "job.html", principal, **context)


@router.get("/ui/jobs/{job_id}/body", response_class=HTMLResponse)
def job_body(
    request: Request, job_id: str, session: SessionDep, principal: PagePrincipal
) -> Response:
    try:
        context = _job_context(session, job_id, principal)
    except NotFound:
        return _not_found(request, principal, job_id)
    return render(request, "_job_body.html", principal, **context)


# The import, asset and operators' pages (they use render() and PagePrincipal above).
from synapse.web import assets as asset_pages  # noqa: E402
from synapse.web import dashboard as dashboard_pages  # noqa: E402
from synapse.web import findings as finding_pages  # noqa: E402
from synapse.web import imports as import_pages  # noqa: E402
from synapse.web import ops as ops_pages  # noqa: E402
from synapse.web import packages as package_pages  # noqa: E402
from synapse.web import rules as rule_pages  # noqa: E402
from synapse.web import webhooks as webhook_pages  # noqa: E402

router.include_router(import_pages.router)
router.include_router(asset_pages.router)
router.include_router(ops_pages.router)
router.include_router(dashboard_pages.router)
router.include_router(rule_pages.router)
router.include_router(finding_pages.router)
router.include_router(package_pages.router)
router.include_router(webhook_pages.router)
