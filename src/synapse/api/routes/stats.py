"""/api/v1/stats: throughput, durations and queue latency from the job table
(docs/dashboard-and-audit.md). Members count only their projects' jobs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from synapse import stats
from synapse.api.deps import SessionDep
from synapse.api.security import PrincipalDep

router = APIRouter(prefix="/api/v1/stats", tags=["operators"])

WindowQ = Annotated[str, Query(description="1h, 24h or 7d")]
BucketQ = Annotated[
    str | None,
    Query(description="e.g. 1m, 5m, 1h (default: 1m for 1h, 15m for 24h, 2h for 7d)"),
]


@router.get("/throughput")
def throughput(
    session: SessionDep, principal: PrincipalDep, window: WindowQ = "24h", bucket: BucketQ = None
) -> dict[str, Any]:
    """Jobs that finished in each bucket of the window, by end state: `{"buckets": [{"start",
    "succeeded", "failed", "cancelled"}]}`, oldest first, empty buckets as zeros; the last
    bucket holds now. A window or bucket the API does not take is a 422 saying why."""
    span = stats.span_of(window, bucket)
    return stats.throughput(session, span, scope=principal.project_scope)


@router.get("/durations")
def durations(
    session: SessionDep, principal: PrincipalDep, window: WindowQ = "7d"
) -> dict[str, Any]:
    """Per job type, of the jobs that finished in the window: `count`, `failed` and the p50,
    p95 and p99 of their run time (`finished_at - started_at`) in seconds. `queues`: the
    queue latency of the same window (as `/stats/latency`)."""
    span = stats.span_of(window, None)
    items = stats.durations(session, span, scope=principal.project_scope)
    return {
        "items": items,
        "total": len(items),
        "window": span.window,
        "start": span.start,
        "end": span.end,
        "queues": stats.latency(session, span, scope=principal.project_scope),
    }


@router.get("/latency")
def latency(
    session: SessionDep, principal: PrincipalDep, window: WindowQ = "24h"
) -> dict[str, Any]:
    """Per queue, of the jobs queued in the window that have started: `count` and the p50 and
    p95 of their wait (`started_at - created_at`) in seconds."""
    span = stats.span_of(window, None)
    items = stats.latency(session, span, scope=principal.project_scope)
    return {"items": items, "total": len(items), "window": span.window, "start": span.start}
