"""Access control at the edge: who is asking, and what they may see and do."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, WebSocket
from sqlalchemy.orm import Session

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


def require_principal(request: Request) -> Principal:
    principal = principal_of(request)
    if principal is None:
        has_token = presented_token(request.headers, request.cookies, request.query_params)
        raise HTTPException(
            status_code=401,
            detail="invalid API token"
            if has_token
            else "missing API token: send 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return principal


def require_admin(principal: Annotated[Principal, Depends(require_principal)]) -> Principal:
    if not principal.is_admin:
        raise HTTPException(status_code=403, detail="this action is for admins only")
    return principal


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


PrincipalDep = Annotated[Principal, Depends(require_principal)]
AdminDep = Annotated[Principal, Depends(require_admin)]
