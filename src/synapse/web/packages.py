"""The Packages page: generate a package (type, formats, asset types, title, revision) with live
progress and its files to download; earlier packages of the project, newest first, each with its
revision, date, state, size and files, and for a later revision how many values changed since the
previous one. Generating goes through the packages API."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from synapse.api.deps import SessionDep
from synapse.db.models import Asset, Job, Project, StoredFile
from synapse.packages.options import DEFAULT_TITLES, FORMATS, PACKAGE_TYPES
from synapse.packages.snapshots import SUFFIX as SNAPSHOT_SUFFIX
from synapse.web.imports import chosen_project, visible_projects
from synapse.web.views import PagePrincipal, render

router: APIRouter = APIRouter(include_in_schema=False)
JOB_TYPE = "generate_package"
EARLIER = 50
ORDER = ["full", "instrument_index", "datasheets"]  # the form offers the full package first
MB = 1024 * 1024
LABELS = {
    "full": "Full package (index and datasheets)",
    "instrument_index": "Instrument index",
    "datasheets": "Datasheets",
}


def changes_note(result: Any) -> dict[str, Any] | None:
    """`{"revision", "count", "job_id"}` of a package's changes since its previous revision."""
    since = result.get("changes_since") if isinstance(result, dict) else None
    if not isinstance(since, dict) or "revision" not in since:
        return None
    return {
        "revision": str(since["revision"]),
        "count": int(since.get("count") or 0),
        "job_id": str(since.get("job_id") or ""),
    }


def _shown_files(job: Job, stored: list[StoredFile]) -> list[StoredFile]:
    """The package's files without the snapshot of its values (kept for the next revision)."""
    result = job.result if isinstance(job.result, dict) else {}
    snapshot = result.get("snapshot_file_id")
    return [f for f in stored if f.id != snapshot and not f.name.endswith(SNAPSHOT_SUFFIX)]


def earlier_packages(session: Session, project: str, limit: int = EARLIER) -> list[dict[str, Any]]:
    """The project's package jobs, newest first, with their options and files."""
    jobs = session.scalars(
        select(Job)
        .where(Job.type == JOB_TYPE, Job.project_key == project)
        .order_by(Job.created_at.desc(), Job.id.desc())
        .limit(limit)
    ).all()
    files: dict[str, list[StoredFile]] = defaultdict(list)
    if jobs:
        query = (
            select(StoredFile)
            .where(StoredFile.job_id.in_([j.id for j in jobs]))
            .order_by(StoredFile.created_at, StoredFile.name)
        )
        for stored in session.scalars(query):
            files[str(stored.job_id)].append(stored)
    out = []
    for job in jobs:
        params = job.params or {}
        options = params.get("options") or {}
        kind = str(params.get("package_type") or "")
        shown = _shown_files(job, files.get(job.id, []))
        out.append(
            {
                "job": job,
                "package_type": kind,
                "label": LABELS.get(kind, kind),
                "revision": options.get("revision") or "A",
                "title": options.get("title") or DEFAULT_TITLES.get(kind, ""),
                "asset_types": list(options.get("asset_types") or []),
                "formats": list(options.get("formats") or FORMATS),
                "files": [{"id": f.id, "name": f.name, "size": size_text(f.size)} for f in shown],
                "size": size_text(sum(f.size for f in shown)),
                "changes": changes_note(job.result),
            }
        )
    return out


def size_text(size: int) -> str:
    """As the pages' scripts say it (Pages.size): 8 KB, 1.4 MB."""
    return f"{size / MB:.1f} MB" if size >= MB / 10 else f"{max(1, round(size / 1024))} KB"


def asset_types(session: Session, project: str) -> list[str]:
    query = (
        select(Asset.type)
        .join(Project, Project.id == Asset.project_id)
        .where(Project.key == project)
        .distinct()
        .order_by(Asset.type)
    )
    return [str(t) for t in session.scalars(query)]


def _context(session: Session, project: str, visible: bool) -> dict[str, Any]:
    if not project or not visible:
        return {"earlier": [], "types": []}
    return {"earlier": earlier_packages(session, project), "types": asset_types(session, project)}


@router.get("/packages", response_class=HTMLResponse)
def packages_page(request: Request, session: SessionDep, principal: PagePrincipal) -> Response:
    projects = visible_projects(session, principal)
    project = chosen_project(request, projects)
    visible = principal.sees(project) if project else True
    response = render(
        request,
        "packages.html",
        principal,
        projects=projects,
        project=project,
        problem=None if visible else f"project {project} not found",
        package_types=[(t, LABELS[t]) for t in sorted(PACKAGE_TYPES, key=ORDER.index)],
        formats=FORMATS,
        **_context(session, project, visible),
    )
    if not visible:
        response.status_code = 404
    return response


@router.get("/ui/packages/earlier", response_class=HTMLResponse)
def packages_earlier(request: Request, session: SessionDep, principal: PagePrincipal) -> Response:
    """The earlier packages' table body alone: swapped in when a package finishes."""
    project = (request.query_params.get("project") or "").strip()
    visible = bool(project) and principal.sees(project)
    response = render(
        request, "_packages_rows.html", principal, project=project,
        **_context(session, project, visible),
    )  # fmt: skip
    if not visible:
        response.status_code = 404
    return response
