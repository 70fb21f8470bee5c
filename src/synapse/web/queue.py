"""What the Job Queue page shows: jobs grouped by state, filters, the beat schedule."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import distinct, select
from sqlalchemy.orm import Session

from synapse.auth import Principal
from synapse.config import Settings
from synapse.db.models import Job
from synapse.jobs import states, store
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


@dataclass
class QueueFilter:
    state: str = "all"
    type: str = ""
    project: str = ""
    since: str = "24h"

    def __post_init__(self) -> None:
        self.state = self.state if self.state in STATES else "all"
        self.since = self.since if self.since in SINCE else "24h"

    def query(self) -> dict[str, str]:
        return {
            "state": self.state,
            "type": self.type,
            "project": self.project,
            "since": self.since,
        }


@dataclass
class Group:
    key: str
    title: str
    jobs: list[Job]
    total: int


@dataclass
class QueueView:
    filters: QueueFilter
    groups: list[Group]
    types: list[str]
    projects: list[str]
    schedule: list[Entry] = field(default_factory=list)
    beat: BeatStatus | None = None  # with the schedule: whether a beat leads
    reports: list[dict[str, Any]] = field(default_factory=list)  # the latest weekly reports


def queue_view(
    session: Session,
    principal: Principal,
    flt: QueueFilter,
    *,
    settings: Settings,
    limit: int = 50,
) -> QueueView:
    groups = []
    for key, title in GROUPS:
        if flt.state not in ("all", key):
            continue
        rows, total = store.list_jobs(
            session,
            store.JobFilter(
                states=states.FILTERS[key],
                type=flt.type or None,
                project_key=flt.project or None,
                since=store.since_to_delta(flt.since) if key in FINISHED_GROUPS else None,
                projects=principal.project_scope,
            ),
            limit=limit,
            offset=0,
        )
        groups.append(Group(key, title, list(rows), total))
    type_query: Any = select(distinct(Job.type)).order_by(Job.type)
    if principal.project_scope is not None:
        type_query = type_query.where(Job.project_key.in_(sorted(principal.project_scope)))
    projects, _ = list_projects(session, scope=principal.project_scope)
    view = QueueView(
        filters=flt,
        groups=groups,
        types=list(session.scalars(type_query)),
        projects=[p.key for p, _ in projects],
    )
    if principal.is_admin and flt.state in ("all", "queued"):
        # The schedule (next run, last run, missed, a failed last backup) and the reports.
        state = schedule_state(settings, session)
        view.schedule, view.beat = state.entries, state.beat
        view.reports, _ = list_reports(session, limit=3, offset=0)
    return view
