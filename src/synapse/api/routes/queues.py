"""/api/v1/queues: what each queue holds, pause and resume (docs/queues-and-workers.md)."""

from __future__ import annotations

import logging
from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from synapse import audit
from synapse.api.deps import CeleryDep, SessionDep, SettingsDep
from synapse.api.security import AdminDep, PrincipalDep
from synapse.auth import Principal
from synapse.config import Settings
from synapse.db.engine import session_scope
from synapse.errors import TransientError
from synapse.jobs import queues
from synapse.jobs.retry import is_transient
from synapse.jobs.workers import WorkerInfo, list_workers

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1", tags=["operators"])


class QueuePublic(BaseModel):
    name: str
    paused: bool
    depth: int
    oldest_wait_seconds: float
    running: int
    retrying: int
    held: int
    scheduled: int = Field(description="jobs submitted to run later, not yet due")
    paused_at: datetime | None
    paused_by: str | None
    changed_at: datetime | None
    broker_depth: int | None

    @classmethod
    def of(cls, info: queues.QueueInfo) -> QueuePublic:
        return cls(**queues.as_dict(info))


class QueueList(BaseModel):
    items: list[QueuePublic]
    total: int


class QueueChanged(QueuePublic):
    changed: bool  # False: it already was paused (or running)
    released: int  # held jobs sent again by a resume


@router.get("/queues", response_model=QueueList)
def list_queues(settings: SettingsDep, session: SessionDep, _principal: PrincipalDep) -> QueueList:
    """Every queue: jobs waiting (`depth`), the oldest one's wait, jobs running, and whether it
    is paused; from the job table (`broker_depth`: the messages Redis holds for it)."""
    items = [QueuePublic.of(info) for info in queues.queue_stats(session, settings)]
    return QueueList(items=items, total=len(items))


def _change(
    settings: Settings,
    celery: CeleryDep,
    *,
    name: str,
    paused: bool,
    admin: Principal,
    request: Request,
) -> QueueChanged:
    queues.check_name(name)
    with session_scope(settings) as session:
        _row, changed = queues.set_paused(session, name=name, paused=paused, by=admin.id)
        audit.record(
            session,
            actor=admin.id,
            action="queue.pause" if paused else "queue.resume",
            target=name,
            detail={"changed": changed},
            client=audit.client_address(request),
        )
    known: list[WorkerInfo] = []
    if not paused:
        try:
            known = list(list_workers(settings))
        except Exception as exc:  # Redis is away: workers follow the database by themselves
            log.warning("cannot list the workers to tell them: %s", exc)
    queues.tell_workers(celery, name=name, paused=paused, workers=known)
    # A resume (also a repeated one) sends the held jobs again: the database says which.
    released = 0
    if not paused:
        try:
            released = queues.release(settings, celery, name=name)
        except Exception as exc:
            if not is_transient(exc):
                raise
            raise TransientError(
                f"queue {name} is resumed, but its held jobs could not be sent again ({exc}); "
                "resume it again to send them"
            ) from exc
    with session_scope(settings) as session:
        info = next(i for i in queues.queue_stats(session, settings) if i.name == name)
    return QueueChanged(**queues.as_dict(info), changed=changed, released=released)


@router.post("/queues/{name}/pause", response_model=QueueChanged)
def pause_queue(
    name: str, request: Request, settings: SettingsDep, celery: CeleryDep, admin: AdminDep
) -> QueueChanged:
    """Pause a queue (admins): none of its jobs starts, across worker and Redis restarts and
    for workers that join later, until it is resumed; running jobs finish. Idempotent."""
    return _change(settings, celery, name=name, paused=True, admin=admin, request=request)


@router.post("/queues/{name}/resume", response_model=QueueChanged)
def resume_queue(
    name: str, request: Request, settings: SettingsDep, celery: CeleryDep, admin: AdminDep
) -> QueueChanged:
    """Resume a queue (admins): workers consume it again and the jobs held while it was paused
    are sent again, oldest first. Idempotent."""
    return _change(settings, celery, name=name, paused=False, admin=admin, request=request)
