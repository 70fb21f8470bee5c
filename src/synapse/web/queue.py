"""What the Job Queue page shows: jobs grouped by state (running, queued, failed, then the
finished), each section paged by cursor; filters and search; the beat schedule."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from synapse.auth import Principal
from synapse.config import Settings
from synapse.db.models import Job
from synapse.errors import InvalidInput
from synapse.jobs import search, states, store
from synapse.maintenance.beatlock import BeatStatus
from synapse.maintenance.schedule import Entry
from synapse.maintenance.service import schedule_state
from synapse.maintenance.weekly import list_reports
from synapse.projects import list_projects
from synapse.web.present import GROUPS

SINCE = ("1h", "24h", "7d", "all")
STATES = ("all", *(key for key, _ in GROUPS))
# The time window applies to finished jobs; whatever still runs or waits is always shown.
FINISHED_GROUPS = ("completed", "failed", "cancelled")
OLDEST_FIRST = ("queued",)  # the next to run at the top
TYPES_TTL = 60.0  # seconds the type list (a scan of the whole table) is kept
_types: dict[tuple[str, frozenset[str] | None], tuple[float, list[str]]] = {}


@dataclass
class QueueFilter:
    state: str = "all"
    type: str = ""
    project: str = ""
    since: str = "24h"
    q: str = ""
    submitted_by: str = ""
    cursor: str = ""  # where the shown section's page starts (with a single state)

    def __post_init__(self) -> None:
        self.state = self.state if self.state in STATES else "all"
        self.since = self.since if self.since in SINCE else "24h"
        self.q = self.q.strip()[: search.Q_MAX]
        self.submitted_by = self.submitted_by.strip()

    def query(self, **changes: str) -> dict[str, str]:
        """The filters as URL parameters (empty ones left out)."""
        base = {
            "state": self.state,
            "type": self.type,
            "project": self.project,
            "since": self.since,
            "q": self.q,
            "submitted_by": self.submitted_by,
        } | changes
        return {k: v for k, v in base.items() if v}

    @property
    def narrowed(self) -> bool:
        return bool(self.type or self.project or self.q or self.submitted_by)

    def api_filter(self, key: str | None = None) -> dict[str, str]:
        """The filters as `GET /api/v1/jobs` (and a bulk action's `filter`) spell them."""
        state = key or self.state
        out = {
            "state": "" if state == "all" else state,
            "type": self.type,
            "project_id": self.project,
            "since": self.since if state in FINISHED_GROUPS else "all",
            "q": self.q,
            "submitted_by": self.submitted_by,
        }
        return {k: v for k, v in out.items() if v}


@dataclass
class Group:
    key: str
    title: str
    jobs: list[Job]
    total: int
    next_cursor: str | None = None
    paged: bool = False  # this page starts at a cursor (not the first page)
    oldest_first: bool = False


@dataclass
class QueueView:
    filters: QueueFilter
    groups: list[Group]
    types: list[str]
    projects: list[str]
    schedule: list[Entry] = field(default_factory=list)
    beat: BeatStatus | None = None  # with the schedule: whether a beat leads
    reports: list[dict[str, Any]] = field(default_factory=list)  # the latest weekly reports


def group_page(
    session: Session,
    principal: Principal,
    flt: QueueFilter,
    key: str,
    *,
    cursor: str | None = None,
    limit: int = 50,
) -> Group:
    """One section: a page of its jobs (from `cursor`), its total and the next page's cursor."""
    title = dict(GROUPS)[key]
    submitted_by = principal.id if flt.submitted_by == "me" else flt.submitted_by
    try:
        at = search.Cursor.decode(cursor) if cursor else None
    except InvalidInput:
        at = None  # a stale or mangled link: the first page
    page = store.page_jobs(
        session,
        store.JobFilter(
            states=states.FILTERS[key],
            type=flt.type or None,
            project_key=flt.project or None,
            since=store.since_to_delta(flt.since) if key in FINISHED_GROUPS else None,
            projects=principal.project_scope,
            q=flt.q or None,
            submitted_by=submitted_by or None,
        ),
        limit=limit,
        cursor=at,
        oldest_first=key in OLDEST_FIRST,
    )
    return Group(
        key,
        title,
        list(page.items),
        page.total,
        next_cursor=page.next_cursor,
        paged=at is not None,
        oldest_first=key in OLDEST_FIRST,
    )


def job_types(session: Session, principal: Principal) -> list[str]:
    """The job types in the history (cached a minute: it reads the whole table)."""
    key = (str(session.get_bind().engine.url), principal.project_scope)
    hit = _types.get(key)
    if hit and time.monotonic() - hit[0] < TYPES_TTL:
        return hit[1]
    query: Any = select(Job.type).distinct().order_by(Job.type)
    if principal.project_scope is not None:
        query = query.where(Job.project_key.in_(sorted(principal.project_scope)))
    found = list(session.scalars(query))
    _types[key] = (time.monotonic(), found)
    return found


def queue_view(
    session: Session,
    principal: Principal,
    flt: QueueFilter,
    *,
    settings: Settings,
    limit: int = 50,
) -> QueueView:
    groups = [
        group_page(
            session,
            principal,
            flt,
            key,
            cursor=flt.cursor if flt.state == key else None,
            limit=limit,
        )
        for key, _title in GROUPS
        if flt.state in ("all", key)
    ]
    projects, _ = list_projects(session, scope=principal.project_scope)
    view = QueueView(
        filters=flt,
        groups=groups,
        types=job_types(session, principal),
        projects=[p.key for p, _ in projects],
    )
    if principal.is_admin and flt.state in ("all", "queued"):
        # The schedule (next run, last run, missed, a failed last backup) and the reports.
        state = schedule_state(settings, session)
        view.schedule, view.beat = state.entries, state.beat
        view.reports, _ = list_reports(session, limit=3, offset=0)
    return view
