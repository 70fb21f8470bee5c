"""Response shapes (`XPublic`) and how jobs read in them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from synapse.db.models import Asset, Job, JobLog, JobRowError
from synapse.jobs import states
from synapse.jobs.store import duration_seconds


class UploadAccepted(BaseModel):
    job_id: str
    status: str = Field(
        description="QUEUED, or SCHEDULED when `run_at` / `delay_seconds` was given"
    )
    message: str
    run_at: datetime | None = Field(default=None, description="when a SCHEDULED job is due")

    @classmethod
    def of(cls, job: Job, what: str) -> UploadAccepted:
        """`what` queued on its queue, or scheduled for its time; follow it on /ws/logs."""
        follow = f"follow it on /ws/logs?job_id={job.id}"
        if job.state == states.SCHEDULED and job.run_at is not None:
            when = job.run_at.isoformat(timespec="seconds")
            message = f"{what} scheduled for {when} on {job.queue}; {follow}"
        else:
            message = f"{what} queued on {job.queue}; {follow}"
        return cls(job_id=job.id, status=job.state, message=message, run_at=job.run_at)


class JobPublic(BaseModel):
    id: str
    job_id: str
    type: str
    project_id: str | None
    params: dict[str, Any]
    queue: str
    state: str
    status: str
    percent: int
    current: int
    total: int
    message: str
    result: dict[str, Any] | None
    error: str | None
    traceback: str | None
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_seconds: float | None
    submitted_by: str | None
    retry_of: str | None
    worker: str | None
    run_at: datetime | None = Field(
        default=None, description="when a job submitted with run_at / delay_seconds was due"
    )

    @classmethod
    def of(cls, job: Job) -> JobPublic:
        return cls(
            id=job.id,
            job_id=job.id,
            type=job.type,
            project_id=job.project_key,
            params=job.params or {},
            queue=job.queue,
            state=job.state,
            status=states.SPEC_STATUS.get(job.state, job.state),
            percent=job.percent,
            current=job.current,
            total=job.total,
            message=job.message,
            result=job.result,
            error=job.error,
            traceback=job.traceback,
            attempts=job.attempts,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            duration_seconds=duration_seconds(job),
            submitted_by=job.submitted_by,
            retry_of=job.retry_of,
            worker=job.worker,
            run_at=job.run_at,
        )


class JobList(BaseModel):
    items: list[JobPublic]
    total: int
    limit: int
    offset: int
    next_cursor: str | None = Field(
        default=None, description="pass as `cursor` for the next page; null on the last page"
    )


BULK_MAX = 10_000  # jobs one bulk call acts on


class JobFilterIn(BaseModel):
    """The filters of `GET /api/v1/jobs`, as a bulk action's "everything matching"."""

    model_config = ConfigDict(extra="forbid")

    state: str | None = None
    type: str | None = None
    project_id: str | None = None
    since: str = "all"
    q: str | None = None
    submitted_by: str | None = None


class BulkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["retry", "cancel"]
    ids: list[str] | None = Field(default=None, max_length=BULK_MAX)
    filter: JobFilterIn | None = None
    dry_run: bool = False

    @model_validator(mode="after")
    def _one_selection(self) -> BulkRequest:
        if (self.ids is None) == (self.filter is None):
            raise ValueError("give either ids (a selection) or filter (everything matching)")
        return self


class BulkSkipped(BaseModel):
    id: str
    reason: str


class BulkResult(BaseModel):
    action: str
    dry_run: bool
    matched: int = Field(description="jobs the selection or filter names (that you can see)")
    eligible: int = Field(description="of those, the ones the action applies to")
    done: int = Field(description="acted on (0 in a dry run)")
    skipped: int
    skipped_reasons: dict[str, int]
    skipped_items: list[BulkSkipped] = Field(description="the first 100 skipped, with why")
    new_job_ids: list[str] = Field(default_factory=list, description="retry: the new jobs")
    cancelled_ids: list[str] = Field(default_factory=list, description="cancel: the jobs")
    limit: int = BULK_MAX


class LogLine(BaseModel):
    id: int
    at: datetime
    level: str
    message: str

    @classmethod
    def of(cls, line: JobLog) -> LogLine:
        return cls(id=line.id, at=line.at, level=line.level, message=line.message)


class LogList(BaseModel):
    items: list[LogLine]
    total: int


class RowErrorPublic(BaseModel):
    row: int
    column: str | None
    value: str | None
    reason: str

    @classmethod
    def of(cls, err: JobRowError) -> RowErrorPublic:
        return cls(row=err.row, column=err.column, value=err.value, reason=err.reason)


class RowErrorList(BaseModel):
    items: list[RowErrorPublic]
    total: int
    limit: int
    offset: int


class ProjectPublic(BaseModel):
    key: str
    name: str
    asset_count: int
    created_at: datetime


class ProjectList(BaseModel):
    items: list[ProjectPublic]
    total: int
    limit: int
    offset: int


class AssetPublic(BaseModel):
    tag: str
    type: str
    properties: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, asset: Asset) -> AssetPublic:
        return cls(
            tag=asset.tag,
            type=asset.type,
            properties=asset.properties or {},
            created_at=asset.created_at,
            updated_at=asset.updated_at,
        )


class AssetList(BaseModel):
    items: list[AssetPublic]
    total: int
    limit: int
    offset: int


def spec_status(job: Job) -> dict[str, Any]:
    """The spec's job-status shape (PENDING/PROGRESS/SUCCESS/FAILURE/CANCELLED), plus extras."""
    body: dict[str, Any] = {
        "job_id": job.id,
        "status": states.SPEC_STATUS.get(job.state, job.state),
        "state": job.state,
        "percent": job.percent,
        "current": job.current,
        "total": job.total,
        "message": job.message,
    }
    if job.state == states.SUCCESS:
        body["result"] = job.result
    elif job.state == states.FAILURE:
        body["error"] = job.error
        if job.result:
            body["result"] = job.result
            body["errors"] = job.result.get("errors", [])
    return body
