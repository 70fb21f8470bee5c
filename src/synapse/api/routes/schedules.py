"""The beat schedule: each entry with its next run, last run and `missed`; run one now (admin)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from synapse import audit
from synapse.api.deps import CeleryDep, RunAtDep, SessionDep, SettingsDep
from synapse.api.idempotency import IDEMPOTENT, IdempotentRoute
from synapse.api.schemas import UploadAccepted
from synapse.api.security import AdminDep, PrincipalDep
from synapse.maintenance.beatlock import BeatStatus
from synapse.maintenance.schedule import Entry
from synapse.maintenance.service import run_now, schedule_state

router = APIRouter(prefix="/api/v1/schedules", tags=["schedules"], route_class=IdempotentRoute)


class LastRunPublic(BaseModel):
    job_id: str | None
    state: str
    at: datetime
    error: str | None = None
    by: str | None = None


class ScheduleEntryPublic(BaseModel):
    name: str
    task: str
    schedule: str
    next_run_at: datetime
    last_run: LastRunPublic | None
    missed: bool
    missed_at: datetime | None
    kind: Literal["job", "task"]

    @classmethod
    def of(cls, entry: Entry) -> ScheduleEntryPublic:
        last = entry.last_run
        return cls(
            name=entry.name,
            task=entry.task,
            schedule=entry.schedule,
            next_run_at=entry.next_run_at,
            last_run=LastRunPublic(
                job_id=last.job_id, state=last.state, at=last.at, error=last.error, by=last.by
            )
            if last
            else None,
            missed=entry.missed,
            missed_at=entry.missed_at,
            kind="job" if entry.job else "task",
        )


class BeatPublic(BaseModel):
    known: bool  # False: Redis did not answer
    running: bool
    leader: str | None
    watching_since: datetime | None

    @classmethod
    def of(cls, beat: BeatStatus) -> BeatPublic:
        return cls(
            known=beat.known,
            running=beat.leader is not None,
            leader=beat.leader,
            watching_since=beat.since,
        )


class ScheduleList(BaseModel):
    items: list[ScheduleEntryPublic]
    total: int
    timezone: str
    beat: BeatPublic


class RunStarted(BaseModel):
    name: str
    task: str
    job_id: str | None
    task_id: str
    status: str
    message: str
    run_at: datetime | None = None


@router.get("", response_model=ScheduleList)
def list_schedules(
    settings: SettingsDep, session: SessionDep, principal: PrincipalDep
) -> ScheduleList:
    """Every beat entry: cron text, next run (with its offset), last run, and `missed` when
    a run that should have happened while beat was running did not."""
    state = schedule_state(settings, session)
    return ScheduleList(
        items=[ScheduleEntryPublic.of(e) for e in state.entries],
        total=len(state.entries),
        timezone=state.timezone,
        beat=BeatPublic.of(state.beat),
    )


@router.post("/{name}/run", status_code=202, response_model=RunStarted, dependencies=[IDEMPOTENT])
async def run_schedule_now(
    name: str,
    settings: SettingsDep,
    celery: CeleryDep,
    admin: AdminDep,
    request: Request,
    run_at: RunAtDep = None,
) -> RunStarted:
    """Run an entry now, or at `run_at` / after `delay_seconds` (admins). A job entry answers
    with its job id."""
    started = await run_in_threadpool(
        run_now, settings=settings, celery=celery, name=name, by=admin.id, run_at=run_at
    )
    await run_in_threadpool(
        audit.record_now,
        settings,
        actor=admin.id,
        action="schedule.run",
        target=started.name,
        detail={"task": started.task, "job_id": started.job_id}
        if started.job_id
        else {"task": started.task, "task_id": started.task_id},
        client=audit.client_address(request),
    )
    if started.job is not None:
        accepted = UploadAccepted.of(started.job, started.task)
        status, message = accepted.status, accepted.message
    else:
        status, message = "SENT", f"{started.task} sent"
    return RunStarted(
        name=started.name,
        task=started.task,
        job_id=started.job_id,
        task_id=started.task_id,
        status=status,
        message=message,
        run_at=started.job.run_at if started.job is not None else None,
    )
