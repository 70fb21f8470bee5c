"""The beat schedule: its entries (from settings), and each one's next run, last run and `missed`.

Entries: `daily-backup`, `weekly-report`, `prune-job-history` (jobs, with their schedules in
settings) and `sweep-abandoned-jobs` (a plain housekeeping task of the job framework). Celery
Beat gets them through `beat_schedule(settings)`; the API and the admin page through `status`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from celery.schedules import BaseSchedule, schedstate
from sqlalchemy import select
from sqlalchemy.orm import Session

from synapse.config import Settings
from synapse.db.models import Job, utcnow
from synapse.errors import NotFound
from synapse.maintenance.cron import Every, Rule, as_utc, parse

BACKUP_TASK = "backup_database"
REPORT_TASK = "generate_weekly_report"
PRUNE_TASK = "prune_job_history"
SWEEP_TASK = "synapse.sweep_abandoned_jobs"
# A beat run's job row says it came from beat; a manual run names its principal.
BEAT = "beat"


@dataclass(frozen=True)
class Planned:
    """One entry of the schedule."""

    name: str
    task: str
    rule: Rule
    job: bool  # a job (row, progress, logs) or a plain housekeeping task
    queue: str = "default"


def planned(settings: Settings) -> list[Planned]:
    tz = ZoneInfo(settings.timezone)
    found = []
    for name, task, variable in (
        ("daily-backup", BACKUP_TASK, "schedule_backup"),
        ("weekly-report", REPORT_TASK, "schedule_report"),
        ("prune-job-history", PRUNE_TASK, "schedule_prune"),
    ):
        text = getattr(settings, variable)
        if text.strip().lower() in ("", "off"):
            continue
        try:
            rule = parse(text, tz)
        except ValueError as exc:  # every process builds the schedule at start: it stops here
            raise ValueError(f"SYNAPSE_{variable.upper()}: {exc}") from None
        found.append(Planned(name, task, rule, job=True))
    # The abandoned-job sweep (docs/reliability.md): every lease, at least once a minute.
    sweep = Every(max(60, settings.visibility_timeout))
    found.append(Planned("sweep-abandoned-jobs", SWEEP_TASK, sweep, job=False))
    return found


def find(settings: Settings, name: str) -> Planned:
    for entry in planned(settings):
        if entry.name == name:
            return entry
    known = ", ".join(e.name for e in planned(settings))
    raise NotFound(f"no schedule entry {name!r} (there are: {known})")


def slot_job_id(name: str, slot: datetime) -> str:
    """The job id of an entry's run for one slot: the same in every beat process, so the
    database refuses a second row for a slot that was already sent."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"synapse-beat:{name}:{as_utc(slot).isoformat()}"))


# -- Celery Beat ------------------------------------------------------------------------------


class BeatRule(BaseSchedule):  # type: ignore[misc]
    """A `Cron` or `Every` rule as Celery Beat asks for it (`is_due`)."""

    def __init__(self, rule: Rule, nowfun: Any = None, app: Any = None) -> None:
        super().__init__(nowfun=nowfun, app=app)
        self.rule = rule

    def remaining_estimate(self, last_run_at: datetime) -> timedelta:
        remaining: timedelta = self.rule.next_after(last_run_at) - as_utc(self.now())
        return remaining

    def is_due(self, last_run_at: datetime) -> Any:
        now = as_utc(self.now())
        due_at = self.rule.next_after(last_run_at)
        if due_at <= now:
            return schedstate(True, (self.rule.next_after(now) - now).total_seconds())
        return schedstate(False, (due_at - now).total_seconds())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BeatRule) and other.rule == self.rule

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> tuple[Any, ...]:
        return self.__class__, (self.rule,)

    def __repr__(self) -> str:
        return f"<BeatRule: {self.rule}>"


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    return {
        entry.name: {
            "task": entry.task,
            "schedule": BeatRule(entry.rule),
            "options": {"queue": entry.queue},
        }
        for entry in planned(settings)
    }


# -- status: next run, last run, missed ---------------------------------------------------------


@dataclass(frozen=True)
class LastRun:
    job_id: str | None
    state: str
    at: datetime
    error: str | None = None
    by: str | None = None


@dataclass(frozen=True)
class Entry:
    name: str
    task: str
    schedule: str
    next_run_at: datetime
    last_run: LastRun | None
    missed: bool
    missed_at: datetime | None
    job: bool


def is_missed(
    rule: Rule,
    *,
    last_run_at: datetime | None,
    watched_since: datetime | None,
    now: datetime,
    grace: timedelta,
) -> datetime | None:
    """The slot that should have run and did not, if any.

    The latest slot older than `grace` counts when beat was already watching the schedule
    then (`watched_since`, when the first beat took the lead) and no run started from a
    minute before it on.
    """
    if watched_since is None:
        return None
    slot = rule.latest_at_or_before(now - grace)
    if slot < watched_since:
        return None
    if last_run_at is not None and last_run_at >= slot - timedelta(minutes=1):
        return None
    return slot


def last_job(session: Session, task: str) -> Job | None:
    query = select(Job).where(Job.type == task).order_by(Job.created_at.desc()).limit(1)
    return session.scalars(query).first()


def _last_run(session: Session, entry: Planned, sent: dict[str, Any] | None) -> LastRun | None:
    if entry.job:
        job = last_job(session, entry.task)
        if job is None:
            return None
        return LastRun(job.id, job.state, job.created_at, job.error, job.submitted_by)
    if sent is None:
        return None
    return LastRun(sent.get("task_id"), "SENT", datetime.fromisoformat(sent["at"]), by=BEAT)


def status(
    settings: Settings,
    session: Session,
    *,
    watched_since: datetime | None,
    sent: dict[str, dict[str, Any]],
    now: datetime | None = None,
) -> list[Entry]:
    """Every entry with its next run (in SYNAPSE_TIMEZONE), last run and whether it missed one.

    `watched_since` and `sent` come from beat's records in Redis (`beatlock.beat_status`).
    """
    now = as_utc(now or utcnow())
    tz = ZoneInfo(settings.timezone)
    # Beat sends within a second of a slot; a new leader catches up within a lock period.
    grace = timedelta(seconds=2 * settings.beat_lock_ttl + 60)
    found = []
    for entry in planned(settings):
        last = _last_run(session, entry, sent.get(entry.name))
        if last is not None:
            last = replace(last, at=last.at.astimezone(tz))
        missed_at = is_missed(
            entry.rule,
            last_run_at=last.at if last else None,
            watched_since=watched_since,
            now=now,
            grace=grace,
        )
        found.append(
            Entry(
                name=entry.name,
                task=entry.task,
                schedule=str(entry.rule),
                next_run_at=entry.rule.next_after(now).astimezone(tz),
                last_run=last,
                missed=missed_at is not None,
                missed_at=missed_at.astimezone(tz) if missed_at else None,
                job=entry.job,
            )
        )
    return found
