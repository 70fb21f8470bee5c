"""The beat schedule as people read it: each entry with its schedule text and next run time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from celery import Celery
from celery.schedules import crontab, schedule

from synapse.db.models import utcnow


@dataclass(frozen=True)
class Entry:
    name: str
    task: str
    schedule: str
    next_run_at: datetime | None


def describe(sched: Any) -> str:
    if isinstance(sched, crontab):
        parts = (
            sched._orig_minute,
            sched._orig_hour,
            sched._orig_day_of_month,
            sched._orig_month_of_year,
            sched._orig_day_of_week,
        )
        return " ".join(str(p) for p in parts)
    if isinstance(sched, schedule):
        return f"every {int(sched.run_every.total_seconds())}s"
    if isinstance(sched, (int, float)):
        return f"every {int(sched)}s"
    if isinstance(sched, timedelta):
        return f"every {int(sched.total_seconds())}s"
    return str(sched)


def next_run(app: Celery, sched: Any, now: datetime) -> datetime | None:
    """The next time the entry fires after `now`, in the app's time zone."""
    tz = ZoneInfo(str(app.conf.timezone or "UTC"))
    local = now.astimezone(tz)
    if isinstance(sched, crontab):
        bound = crontab(
            minute=sched._orig_minute,
            hour=sched._orig_hour,
            day_of_week=sched._orig_day_of_week,
            day_of_month=sched._orig_day_of_month,
            month_of_year=sched._orig_month_of_year,
            app=app,
        )
        # remaining_estimate measures from its own "now": round the sum to the minute.
        remaining: timedelta = bound.remaining_estimate(local)
        fire: datetime = local + remaining + timedelta(seconds=30)
        return fire.replace(second=0, microsecond=0)
    if isinstance(sched, (int, float)):
        return local + timedelta(seconds=float(sched))
    if isinstance(sched, timedelta):
        return local + sched
    if isinstance(sched, schedule):
        every: timedelta = sched.run_every
        return local + every
    return None


def entries(app: Celery, now: datetime | None = None) -> list[Entry]:
    now = now or utcnow()
    found = []
    for name, spec in sorted((app.conf.beat_schedule or {}).items()):
        found.append(
            Entry(
                name=name,
                task=str(spec["task"]),
                schedule=describe(spec["schedule"]),
                next_run_at=next_run(app, spec["schedule"], now),
            )
        )
    return found
