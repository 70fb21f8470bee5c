"""Jobs: list, detail, cancel, retry, log lines and row errors."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from synapse import audit
from synapse.api.deps import CeleryDep, LimitQ, OffsetQ, RunAtDep, SessionDep, SettingsDep
from synapse.api.idempotency import IDEMPOTENT, IdempotentRoute
from synapse.api.schemas import (
    BulkRequest,
    BulkResult,
    BulkSkipped,
    JobList,
    JobPublic,
    LogLine,
    LogList,
    RowErrorList,
    RowErrorPublic,
)
from synapse.api.security import PrincipalDep, check_may_act, visible_job
from synapse.auth import Principal
from synapse.errors import InvalidInput
from synapse.jobs import bulk, search, service, states, store

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"], route_class=IdempotentRoute)

SinceQ = Annotated[
    Literal["1h", "24h", "7d", "all"],
    Query(description="jobs that finished in this window (unfinished ones: created in it)"),
]


def job_filter(
    principal: Principal,
    *,
    state: str | None = None,
    type: str | None = None,
    project_id: str | None = None,
    since: str | None = "all",
    q: str | None = None,
    submitted_by: str | None = None,
) -> store.JobFilter:
    """The list's filters, limited to what the caller sees (`submitted_by=me`: the caller)."""
    wanted: tuple[str, ...] = ()
    if state and state.lower() != "all":
        if state.lower() not in states.FILTERS:
            raise InvalidInput(
                f"state must be one of all, running, queued, completed, failed, cancelled "
                f"or a job state, not {state!r}"
            )
        wanted = states.FILTERS[state.lower()]
    if (since or "all") not in ("1h", "24h", "7d", "all"):
        raise InvalidInput(f"since must be one of 1h, 24h, 7d, all, not {since!r}")
    return store.JobFilter(
        states=wanted,
        type=type or None,
        project_key=project_id or None,
        since=store.since_to_delta(since),
        projects=principal.project_scope,
        q=search.clean_q(q),
        submitted_by=principal.id if submitted_by == "me" else submitted_by or None,
    )


@router.get("", response_model=JobList)
def list_jobs(
    session: SessionDep,
    principal: PrincipalDep,
    state: str | None = None,
    type: str | None = None,
    project_id: str | None = None,
    since: SinceQ = "all",
    q: Annotated[
        str | None,
        Query(description="job id prefix, or text in the parameters (file name...) or error"),
    ] = None,
    submitted_by: Annotated[
        str | None, Query(description="who submitted the job (`me`: the caller)")
    ] = None,
    order: Annotated[Literal["newest", "oldest"], Query(description="by creation time")] = "newest",
    cursor: Annotated[
        str | None, Query(description="the `next_cursor` of the previous page")
    ] = None,
    limit: LimitQ = 50,
    offset: OffsetQ = 0,
) -> JobList:
    flt = job_filter(
        principal,
        state=state,
        type=type,
        project_id=project_id,
        since=since,
        q=q,
        submitted_by=submitted_by,
    )
    page = store.page_jobs(
        session,
        flt,
        limit=limit,
        offset=offset,
        cursor=search.Cursor.decode(cursor) if cursor else None,
        oldest_first=order == "oldest",
    )
    return JobList(
        items=[JobPublic.of(j) for j in page.items],
        total=page.total,
        limit=limit,
        offset=offset,
        next_cursor=page.next_cursor,
    )


@router.post("/bulk", response_model=BulkResult, dependencies=[IDEMPOTENT])
def bulk_action(
    body: BulkRequest,
    request: Request,
    settings: SettingsDep,
    celery: CeleryDep,
    principal: PrincipalDep,
) -> BulkResult:
    """Retry or cancel a selection (`ids`) or everything matching `filter` (the fields of
    `GET /api/v1/jobs`); `dry_run` only counts. What the caller may not touch is skipped and
    counted with its reason. At most 10,000 jobs per call (422 beyond)."""
    flt = None
    described: dict[str, object] = {"ids": len(body.ids or [])}
    if body.filter is not None:
        fields = body.filter.model_dump()
        flt = job_filter(principal, **fields)
        described = {k: v for k, v in fields.items() if v not in (None, "")}
    out = bulk.run(
        settings=settings,
        celery=celery,
        principal=principal,
        action=body.action,
        ids=body.ids,
        flt=flt,
        dry_run=body.dry_run,
        client=audit.client_address(request),
        described=described,
    )
    return BulkResult(
        action=out.action,
        dry_run=out.dry_run,
        matched=out.matched,
        eligible=out.eligible,
        done=out.done,
        skipped=out.skipped,
        skipped_reasons=dict(out.reasons),
        skipped_items=[BulkSkipped(id=i, reason=r) for i, r in out.skipped_items],
        new_job_ids=out.new_job_ids,
        cancelled_ids=out.cancelled_ids,
        limit=bulk.LIMIT,
    )


@router.get("/{job_id}", response_model=JobPublic)
def get_job(job_id: str, session: SessionDep, principal: PrincipalDep) -> JobPublic:
    return JobPublic.of(visible_job(session, job_id, principal))


@router.post("/{job_id}/cancel", response_model=JobPublic)
def cancel_job(
    job_id: str,
    request: Request,
    settings: SettingsDep,
    session: SessionDep,
    principal: PrincipalDep,
) -> JobPublic:
    """A queued job never starts; a running one stops at its next checkpoint. Finished: 409."""
    check_may_act(principal, visible_job(session, job_id, principal))
    job = service.cancel_job(
        settings=settings, job_id=job_id, by=principal.id, client=audit.client_address(request)
    )
    return JobPublic.of(job)


class RetryOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    skip_invalid: bool | None = Field(
        default=None,
        description="for an import that failed on bad rows: import its valid rows this time",
    )


@router.post(
    "/{job_id}/retry", status_code=202, response_model=JobPublic, dependencies=[IDEMPOTENT]
)
def retry_job(
    job_id: str,
    request: Request,
    settings: SettingsDep,
    celery: CeleryDep,
    session: SessionDep,
    principal: PrincipalDep,
    options: Annotated[RetryOptions | None, Body()] = None,
    run_at: RunAtDep = None,
) -> JobPublic:
    """A new job with the same parameters and `retry_of`; only for FAILURE or CANCELLED.
    `{"skip_invalid": true}` retries a failed import with its valid rows only."""
    check_may_act(principal, visible_job(session, job_id, principal))
    changes = options.model_dump(exclude_none=True) if options else {}
    job = service.retry_job(
        settings=settings,
        celery=celery,
        job_id=job_id,
        by=principal.id,
        changes=changes,
        client=audit.client_address(request),
        run_at=run_at,
    )
    return JobPublic.of(job)


@router.get("/{job_id}/logs", response_model=LogList)
def job_logs(
    job_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    after_id: OffsetQ = 0,
    limit: LimitQ = 1000,
) -> LogList:
    visible_job(session, job_id, principal)
    """Log lines oldest first: up to `limit` after the line `after_id` (0: from the start);
    `total` counts every line of the job, so a client pages with the last id it has."""
    lines, total = store.list_logs(session, job_id, after_id=after_id, limit=limit)
    return LogList(items=[LogLine.of(x) for x in lines], total=total)


def _safe_cell(value: object) -> str:
    """Spreadsheets never see a formula: a leading = + - @ (or tab/CR) is quoted."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@router.get(
    "/{job_id}/errors",
    response_model=RowErrorList,
    responses={200: {"content": {"text/csv": {}}, "description": "JSON, or CSV with format=csv"}},
)
def job_errors(
    job_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    format: Literal["json", "csv"] = "json",
    limit: Annotated[int, Query(ge=1, le=100_000)] = 1000,
    offset: OffsetQ = 0,
) -> RowErrorList | StreamingResponse:
    """Row errors of an import; `?format=csv` downloads all of them."""
    visible_job(session, job_id, principal)
    if format == "csv":
        rows, _total = store.list_row_errors(session, job_id, limit=None)

        def lines() -> Iterator[str]:
            buf = io.StringIO()
            writer = csv.writer(buf)
            writer.writerow(["row", "column", "value", "reason"])
            for err in rows:
                writer.writerow(
                    [err.row, _safe_cell(err.column), _safe_cell(err.value), _safe_cell(err.reason)]
                )
                if buf.tell() > 64 * 1024:
                    yield buf.getvalue()
                    buf.seek(0)
                    buf.truncate()
            yield buf.getvalue()

        return StreamingResponse(
            lines(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="job-{job_id[:8]}-errors.csv"'},
        )
    rows, total = store.list_row_errors(session, job_id, limit=limit, offset=offset)
    return RowErrorList(
        items=[RowErrorPublic.of(e) for e in rows], total=total, limit=limit, offset=offset
    )
