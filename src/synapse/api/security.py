"""Access control at the edge: the FastAPI dependencies of who is asking (`synapse.access`
holds the checks themselves, shared with the pages)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from synapse.access import (
    COOKIE,
    check_may_act,
    check_project,
    presented_token,
    principal_of,
    visible_job,
)
from synapse.auth import Principal

__all__ = [
    "COOKIE",
    "AdminDep",
    "PrincipalDep",
    "check_may_act",
    "check_project",
    "presented_token",
    "principal_of",
    "require_admin",
    "require_principal",
    "visible_job",
]


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


PrincipalDep = Annotated[Principal, Depends(require_principal)]
AdminDep = Annotated[Principal, Depends(require_admin)]
