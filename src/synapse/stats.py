"""Throughput, durations and queue latency, counted from the job table.

Everything is read from the jobs' own times, so a restart of any process loses nothing:

- throughput: finished jobs per bucket of `finished_at`, by end state, grouped in SQL (the
  bucket is the integer `epoch // bucket_seconds`, so buckets start on round times);
- durations: `finished_at - started_at` per job type; latency: `started_at - created_at` per
  queue. Percentiles interpolate linearly between the two nearest ranks (PostgreSQL's
  `percentile_cont`): on PostgreSQL by `percentile_cont` itself, on SQLite in Python over a
  bounded query (the newest SAMPLE_LIMIT jobs of the window).

Members see only their projects' jobs; `scope=None` means every job (admins).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, cast, func, literal, literal_column, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from synapse.db.models import Job, utcnow
from synapse.errors import InvalidInput
from synapse.jobs import states

WINDOWS = {"1h": 3600, "24h": 86_400, "7d": 7 * 86_400}
DEFAULT_BUCKET = {"1h": "1m", "24h": "15m", "7d": "2h"}
MAX_BUCKETS = 2016  # a week of 5-minute buckets
MIN_BUCKET_SECONDS = 10
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
END_STATES = {states.SUCCESS: "succeeded", states.FAILURE: "failed", states.CANCELLED: "cancelled"}
DURATION_PERCENTILES = (0.5, 0.95, 0.99)
LATENCY_PERCENTILES = (0.5, 0.95)
SAMPLE_LIMIT = 250_000  # SQLite: percentiles over at most this many of the newest jobs


@dataclass(frozen=True)
class Span:
    """A window cut into buckets: `start` and `end` are multiples of the bucket."""

    window: str
    bucket: str
    bucket_seconds: int
    start: datetime
    end: datetime

    @property
    def count(self) -> int:
        return int((self.end - self.start).total_seconds()) // self.bucket_seconds


def window_seconds(window: str) -> int:
    if window not in WINDOWS:
        raise InvalidInput(f"window must be one of {', '.join(WINDOWS)}, not {window!r}")
    return WINDOWS[window]


def bucket_seconds(bucket: str) -> int:
    match = re.fullmatch(r"(\d{1,6})([smhd])", bucket.strip())
    if not match:
        raise InvalidInput(
            f"bucket must be a number and a unit (s, m, h, d), e.g. 5m, not {bucket!r}"
        )
    seconds = int(match.group(1)) * UNITS[match.group(2)]
    if seconds < MIN_BUCKET_SECONDS:
        raise InvalidInput(f"bucket must be at least {MIN_BUCKET_SECONDS}s, not {bucket!r}")
    return seconds


def span_of(window: str, bucket: str | None, *, now: datetime | None = None) -> Span:
    """The buckets of `window` that end with the one holding `now` (422 when they do not fit)."""
    total = window_seconds(window)
    bucket = bucket or DEFAULT_BUCKET[window]
    size = bucket_seconds(bucket)
    if size > total:
        raise InvalidInput(f"bucket {bucket} is longer than the window {window}")
    count = math.ceil(total / size)
    if count > MAX_BUCKETS:
        raise InvalidInput(
            f"{window} in buckets of {bucket} makes {count} buckets; at most {MAX_BUCKETS}: "
            "choose a longer bucket"
        )
    epoch = int((now or utcnow()).timestamp())
    end = (epoch // size + 1) * size  # the end of the bucket that holds now
    return Span(
        window=window,
        bucket=bucket,
        bucket_seconds=size,
        start=datetime.fromtimestamp(end - count * size, UTC),
        end=datetime.fromtimestamp(end, UTC),
    )


def _scoped(session: Session, query: Any, scope: frozenset[str] | None) -> Any:
    """Only the scope's projects. On SQLite as an expression (`project_key || ''`) that no
    index serves: without statistics SQLite would read a whole project by ix_jobs_project
    rather than the window by its time index (measured 57 ms against 3 ms for an hour)."""
    if scope is None:
        return query
    column = Job.project_key.concat("") if _is_sqlite(session) else Job.project_key
    return query.where(column.in_(sorted(scope)))


def _is_sqlite(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def _epoch(session: Session, column: Any) -> ColumnElement[Any]:
    """Whole seconds since the epoch of a timestamp column, in SQL."""
    if _is_sqlite(session):
        return cast(func.strftime("%s", column), BigInteger)
    return cast(func.floor(func.extract("epoch", column)), BigInteger)


def _seconds_between(session: Session, later: Any, earlier: Any) -> ColumnElement[Any]:
    if _is_sqlite(session):
        return (func.julianday(later) - func.julianday(earlier)) * 86_400.0
    return func.extract("epoch", later - earlier)


def _finished_in(span: Span) -> list[ColumnElement[bool]]:
    """Jobs that finished in the span. Only finished jobs have `finished_at`; their state is
    checked by the caller, not in SQL, so that SQLite reads `ix_jobs_finished` rather than
    the state index (which, without statistics, it prefers and which scans every job)."""
    return [Job.finished_at >= span.start, Job.finished_at < span.end]


def throughput(session: Session, span: Span, *, scope: frozenset[str] | None) -> dict[str, Any]:
    """Finished jobs per bucket and end state; empty buckets are zeros."""
    slot = (_epoch(session, Job.finished_at) // span.bucket_seconds).label("slot")
    query = _scoped(
        session,
        select(slot, Job.state, func.count().label("n"))
        .where(*_finished_in(span))
        .group_by(literal_column("slot"), Job.state),
        scope,
    )
    first = int(span.start.timestamp()) // span.bucket_seconds
    counts = [dict.fromkeys(END_STATES.values(), 0) for _ in range(span.count)]
    totals = dict.fromkeys(END_STATES.values(), 0)
    for slot_no, state, n in session.execute(query):
        index = int(slot_no) - first
        if 0 <= index < len(counts) and state in END_STATES:
            counts[index][END_STATES[state]] += int(n)
            totals[END_STATES[state]] += int(n)
    buckets = [
        {"start": span.start + timedelta(seconds=i * span.bucket_seconds), **bucket}
        for i, bucket in enumerate(counts)
    ]
    return {
        "buckets": buckets,
        "window": span.window,
        "bucket": span.bucket,
        "bucket_seconds": span.bucket_seconds,
        "start": span.start,
        "end": span.end,
        "totals": totals,
    }


def interpolate(ordered: Sequence[float], p: float) -> float:
    """`percentile_cont` of sorted values: linear between the values at the 0-based ranks
    floor and ceil of p·(n-1)."""
    position = p * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class Found:
    """One group's figures: rows, rows matching `flag` (failed jobs, say), percentiles."""

    count: int
    flagged: int
    values: list[float]


def percentiles_by(
    session: Session,
    *,
    group: Any,
    value: ColumnElement[Any],
    where: Sequence[ColumnElement[bool]],
    ps: Sequence[float],
    scope: frozenset[str] | None,
    newest: Any,
    flag: ColumnElement[bool] | None = None,
) -> dict[str, Found]:
    """For each group: how many rows, how many of them `flag`, and the percentiles `ps` of
    `value` (seconds). One query on either database."""
    flag = flag if flag is not None else literal(False)
    if not _is_sqlite(session):
        columns = [func.percentile_cont(p).within_group(value) for p in ps]
        flagged = func.count().filter(flag)
        query = _scoped(
            session,
            select(group, func.count(), flagged, *columns).where(*where).group_by(group),
            scope,
        )
        return {
            str(row[0]): Found(int(row[1]), int(row[2]), [float(v) for v in row[3:]])
            for row in session.execute(query)
        }
    # SQLite has no percentile function: its values come to Python, the newest SAMPLE_LIMIT
    # at most (a bounded query, read backwards along the window's index), and are sorted here.
    # Measured against ranking by window functions in SQL, this was faster (docs).
    query = _scoped(session, select(group, value, flag).where(*where), scope).order_by(
        newest.desc()
    )
    values: dict[str, list[float]] = {}
    flags: Counter[str] = Counter()
    for g, v, f in session.execute(query.limit(SAMPLE_LIMIT)):
        values.setdefault(str(g), []).append(float(v))
        flags[str(g)] += bool(f)
    found: dict[str, Found] = {}
    for g, group_values in values.items():
        group_values.sort()
        found[g] = Found(len(group_values), flags[g], [interpolate(group_values, p) for p in ps])
    return found


def _rounded(value: float) -> float:
    return round(value, 3)


def durations(
    session: Session, span: Span, *, scope: frozenset[str] | None
) -> list[dict[str, Any]]:
    """Per job type, of the jobs that finished in the window after running: how many, and
    how many failed, and p50/p95/p99 of `finished_at - started_at` in seconds; busiest first."""
    seconds = _seconds_between(session, Job.finished_at, Job.started_at)
    where = [*_finished_in(span), Job.started_at.is_not(None)]
    found = percentiles_by(
        session,
        group=Job.type,
        value=seconds,
        where=where,
        ps=DURATION_PERCENTILES,
        scope=scope,
        newest=Job.finished_at,
        flag=Job.state == states.FAILURE,
    )
    items = [
        {
            "type": job_type,
            "count": f.count,
            "failed": f.flagged,
            **{name: _rounded(v) for name, v in zip(("p50", "p95", "p99"), f.values, strict=True)},
        }
        for job_type, f in found.items()
    ]
    return sorted(items, key=lambda item: (-item["count"], item["type"]))


def latency(session: Session, span: Span, *, scope: frozenset[str] | None) -> list[dict[str, Any]]:
    """Per queue, of the jobs queued in the window that have started: how long they waited
    (`started_at - created_at`, or from `run_at` for a scheduled job: its wait starts at its
    time), p50 and p95 in seconds. By `created_at` (ix_jobs_created): `started_at` has no
    index. A job still waiting is not counted here; `GET /api/v1/queues` shows the oldest wait
    of each queue."""
    seconds = _seconds_between(session, Job.started_at, func.coalesce(Job.run_at, Job.created_at))
    where = [
        Job.created_at >= span.start,
        Job.created_at < span.end,
        Job.started_at.is_not(None),
    ]
    found = percentiles_by(
        session,
        group=Job.queue,
        value=seconds,
        where=where,
        ps=LATENCY_PERCENTILES,
        scope=scope,
        newest=Job.created_at,
    )
    items = [
        {
            "queue": queue,
            "count": f.count,
            "p50": _rounded(f.values[0]),
            "p95": _rounded(f.values[1]),
        }
        for queue, f in found.items()
    ]
    return sorted(items, key=lambda item: item["queue"])
