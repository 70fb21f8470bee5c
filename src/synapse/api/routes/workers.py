"""/api/v1/workers: every live worker on any machine (docs/queues-and-workers.md)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel

from synapse.api.deps import SessionDep, SettingsDep
from synapse.api.security import PrincipalDep
from synapse.jobs import workers

router = APIRouter(prefix="/api/v1", tags=["operators"])


class WorkerPublic(BaseModel):
    name: str
    hostname: str
    pid: int
    concurrency: int
    queues: list[str]
    configured_queues: list[str]
    paused_queues: list[str]
    active: list[str]
    rss_bytes: int
    last_seen: datetime
    seen_seconds_ago: float
    started_at: datetime


class WorkerList(BaseModel):
    items: list[WorkerPublic]
    total: int


@router.get("/workers", response_model=WorkerList)
def list_workers(settings: SettingsDep, session: SessionDep, principal: PrincipalDep) -> WorkerList:
    """Workers whose record in Redis is fresh: each one renews it every few seconds, so one
    that vanished (SIGKILL, a lost machine) drops off within `3 × interval + 5 s`. A member
    sees in `active` only the jobs of their projects."""
    found = workers.list_workers(settings)
    items = [WorkerPublic(**workers.as_dict(info)) for info in found]
    if not principal.is_admin:
        visible = workers.visible_jobs(session, [i for w in found for i in w.active], principal)
        for item in items:
            item.active = [i for i in item.active if i in visible]
    return WorkerList(items=items, total=len(items))
