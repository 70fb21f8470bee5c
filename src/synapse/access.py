"""Who is asking and what they may see and do: shared by the API's routes and the pages.

Plain functions over a request's headers, cookies and query; the API's FastAPI dependencies
(`api.security`) and the pages (`web`) both build on them.
"""

from __future__ import annotations

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.websockets import WebSocket

from synapse.auth import OPEN, Principal, TokenEntry, authenticate
from synapse.db.models import Job
from synapse.errors import Forbidden, NotFound
from synapse.jobs import store

COOKIE = "synapse_token"


def _entries(app_state: object) -> list[TokenEntry]:
    entries: list[TokenEntry] = getattr(app_state, "tokens", [])
    return entries


def presented_token(
    headers: dict[str, str] | object, cookies: dict[str, str], query: dict[str, str] | object
) -> str | None:
    auth = getattr(headers, "get", lambda _k: None)("authorization")
    if auth and auth.lower().startswith("bearer "):
        return str(auth[7:].strip())
    if cookies.get(COOKIE):
        return cookies[COOKIE]
    token = getattr(query, "get", lambda _k: None)("token")
    return str(token) if token else None


def principal_of(request: Request | WebSocket, token: str | None = None) -> Principal | None:
    """The caller of a request or socket; None when tokens are configured and none is valid."""
    entries = _entries(request.app.state)
    if not entries:
        return OPEN
    presented = token or presented_token(request.headers, request.cookies, request.query_params)
    return authenticate(entries, presented)


def visible_job(session: Session, job_id: str, principal: Principal) -> Job:
    """The job, if the caller may see it; others' jobs are not found, not forbidden."""
    job = store.get_job(session, job_id)
    if job is None or not principal.sees(job.project_key):
        raise NotFound(f"job {job_id} not found")
    return job


def check_may_act(principal: Principal, job: Job) -> None:
    """Members cancel and retry their own jobs; anyone else's is for admins."""
    if not principal.is_admin and job.submitted_by != principal.id:
        raise Forbidden("only an admin may cancel or retry a job someone else submitted")


def check_project(principal: Principal, project_key: str) -> None:
    if not principal.sees(project_key):
        raise NotFound(f"project {project_key} not found")
