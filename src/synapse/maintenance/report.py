"""The weekly report: what the system did in the past 7 days, as tables for a PDF and a workbook.

Tables: jobs per day, jobs by type and state, failures with their errors, durations (p50/p95) per
type, assets imported per project, findings by severity (when rules exist), backups made.
`build_report` reads them; `report_pdf` and `report_xlsx` render the same tables.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Session

from synapse.config import Settings
from synapse.db.models import Asset, Finding, Job, Project, Rule
from synapse.jobs import states
from synapse.maintenance.backup_files import scan
from synapse.maintenance.common import human_size
from synapse.maintenance.schedule import BACKUP_TASK

FAILURES_SHOWN = 50
SEVERITY_ORDER = ("error", "warning", "info")
OTHER = "queued/running"


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[Any]]
    note: str = ""
    widths: list[float] = field(default_factory=list)  # relative column widths for the PDF


@dataclass
class Report:
    title: str
    start: datetime  # local time, SYNAPSE_TIMEZONE
    end: datetime
    timezone: str
    figures: list[tuple[str, str]]
    tables: list[Table]
    daily: list[tuple[str, int, int]]  # (day, succeeded, failed) for the chart

    @property
    def period(self) -> str:
        return f"{self.start:%a %Y-%m-%d %H:%M} to {self.end:%a %Y-%m-%d %H:%M} ({self.timezone})"


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile of sorted values."""
    if not values:
        return 0.0
    rank = max(1, math.ceil(pct / 100 * len(values)))
    return values[rank - 1]


def seconds(value: float) -> str:
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 120:
        return f"{value:.1f} s"
    if value < 7200:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.1f} h"


def first_line(text: str | None, limit: int = 180) -> str:
    line = (text or "").strip().splitlines()[0] if text and text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _in_window(column: Any, start: datetime, end: datetime) -> Any:
    return (column >= start) & (column < end)


def _jobs_tables(session: Session, start: datetime, end: datetime, tz: ZoneInfo) -> dict[str, Any]:
    rows = session.execute(
        select(Job.type, Job.state, Job.created_at, Job.started_at, Job.finished_at).where(
            _in_window(Job.created_at, start, end)
        )
    ).all()
    by_type: dict[str, Counter[str]] = defaultdict(Counter)
    durations: dict[str, list[float]] = defaultdict(list)
    first, last = start.astimezone(tz).date(), end.astimezone(tz).date()
    per_day: dict[str, Counter[str]] = {
        (first + timedelta(days=i)).strftime("%a %m-%d"): Counter()
        for i in range((last - first).days + 1)
    }
    for row in rows:
        state = row.state if row.state in states.FINISHED else OTHER
        by_type[row.type][state] += 1
        day = row.created_at.astimezone(tz).strftime("%a %m-%d")
        per_day.setdefault(day, Counter())[state] += 1
        if row.state == states.SUCCESS and row.started_at and row.finished_at:
            durations[row.type].append((row.finished_at - row.started_at).total_seconds())
    return {"by_type": by_type, "durations": durations, "per_day": per_day, "total": len(rows)}


def _by_type_table(by_type: dict[str, Counter[str]]) -> Table:
    cols = [states.SUCCESS, states.FAILURE, states.CANCELLED, OTHER]
    out = []
    for job_type in sorted(by_type, key=lambda t: (-sum(by_type[t].values()), t)):
        counts = by_type[job_type]
        total = sum(counts.values())
        done = counts[states.SUCCESS] + counts[states.FAILURE]
        rate = f"{counts[states.SUCCESS] * 100 / done:.1f} %" if done else "-"
        out.append([job_type, total, *(counts[c] for c in cols), rate])
    return Table(
        "Jobs by type and state",
        ["Type", "Total", "Succeeded", "Failed", "Cancelled", "Queued/running", "Success rate"],
        out,
        note="" if out else "No jobs this week.",
        widths=[3, 1, 1.2, 1, 1.2, 1.5, 1.3],
    )


def _failures_table(session: Session, start: datetime, end: datetime, tz: ZoneInfo) -> Table:
    query = (
        select(Job.id, Job.type, Job.project_key, Job.finished_at, Job.created_at, Job.error)
        .where(Job.state == states.FAILURE, _in_window(Job.created_at, start, end))
        .order_by(Job.created_at.desc())
    )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = [
        [
            (r.finished_at or r.created_at).astimezone(tz).strftime("%a %m-%d %H:%M"),
            r.type,
            r.project_key or "-",
            r.id[:8],
            first_line(r.error) or "(no message)",
        ]
        for r in session.execute(query.limit(FAILURES_SHOWN))
    ]
    note = "No failures this week." if not rows else ""
    if total > len(rows):
        note = f"The newest {len(rows)} of {total:,} failures."
    return Table(
        "Failures",
        ["When", "Type", "Project", "Job", "Error"],
        rows,
        note,
        [1.7, 2.1, 1.3, 1.2, 5.2],
    )


def _durations_table(durations: dict[str, list[float]]) -> Table:
    rows = []
    for job_type in sorted(durations):
        values = sorted(durations[job_type])
        rows.append(
            [
                job_type,
                len(values),
                seconds(percentile(values, 50)),
                seconds(percentile(values, 95)),
                seconds(values[-1]),
            ]
        )
    return Table(
        "Durations of successful jobs",
        ["Type", "Jobs", "p50", "p95", "Longest"],
        rows,
        note="" if rows else "No successful jobs this week.",
        widths=[3, 1, 1.3, 1.3, 1.3],
    )


def _imports_table(session: Session, start: datetime, end: datetime) -> tuple[Table, int]:
    imports = session.execute(
        select(Job.project_key, Job.result).where(
            Job.type == "import_csv_assets",
            Job.state == states.SUCCESS,
            _in_window(Job.created_at, start, end),
        )
    ).all()
    sums: dict[str, Counter[str]] = defaultdict(Counter)
    for key, result in imports:
        result = result or {}
        tally = sums[key or "-"]
        tally["imports"] += 1
        for field_name in ("total_rows", "created_count", "updated_count"):
            value = result.get(field_name)
            tally[field_name] += int(value) if isinstance(value, int | float) else 0
    assets = dict(
        session.execute(
            select(Project.key, func.count(Asset.id))
            .join(Asset, Asset.project_id == Project.id)
            .where(Project.key.in_(sorted(sums)))
            .group_by(Project.key)
        ).all()
    )
    rows = [
        [
            key,
            t["imports"],
            t["total_rows"],
            t["created_count"],
            t["updated_count"],
            assets.get(key, 0),
        ]
        for key, t in sorted(sums.items(), key=lambda kv: (-kv[1]["total_rows"], kv[0]))
    ]
    imported = sum(t["created_count"] + t["updated_count"] for t in sums.values())
    table = Table(
        "Assets imported per project",
        ["Project", "Imports", "Rows", "Created", "Updated", "Assets now"],
        rows,
        note="" if rows else "No imports this week.",
        widths=[2.5, 1, 1.2, 1.2, 1.2, 1.4],
    )
    return table, imported


def _findings_table(session: Session) -> Table | None:
    """Current findings per project and severity; None when no project has rules."""
    bind = session.get_bind()
    if not inspect(bind).has_table("rules") or not session.scalar(select(func.count(Rule.id))):
        return None
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for key, severity, n in session.execute(
        select(Project.key, Finding.severity, func.count(Finding.id))
        .join(Finding, Finding.project_id == Project.id)
        .group_by(Project.key, Finding.severity)
    ):
        counts[key][severity] += n
    seen = {s for c in counts.values() for s in c}
    columns = [s for s in SEVERITY_ORDER if s in seen] + sorted(seen - set(SEVERITY_ORDER))
    rows = [
        [key, *(c[s] for s in columns), sum(c.values())]
        for key, c in sorted(counts.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
    ]
    return Table(
        "Findings by severity (current)",
        ["Project", *(s.capitalize() for s in columns), "Total"],
        rows,
        note="" if rows else "Rules exist, and no asset breaks them.",
    )


def _backups_table(
    settings: Settings, session: Session, start: datetime, end: datetime, tz: ZoneInfo
) -> Table:
    made = [b for b in scan(settings) if start <= b.created_at < end]
    failed = session.scalar(
        select(func.count(Job.id)).where(
            Job.type == BACKUP_TASK,
            Job.state == states.FAILURE,
            _in_window(Job.created_at, start, end),
        )
    )
    rows = [
        [
            b.name,
            b.created_at.astimezone(tz).strftime("%a %m-%d %H:%M"),
            human_size(b.size),
            "yes" if b.verified else "no",
            sum((b.manifest.get("tables") or {}).values()) or "-",
        ]
        for b in sorted(made, key=lambda b: b.created_at)
    ]
    notes = [] if rows else ["No backups were made this week."]
    if failed:
        notes.append(f"{failed} backup attempt(s) failed (see Failures).")
    total = sum(b.size for b in made)
    if rows:
        notes.append(f"{len(rows)} backups, {human_size(total)} in all.")
    return Table(
        "Backups made",
        ["File", "Made", "Size", "Verified", "Rows"],
        rows,
        " ".join(notes),
        [3.6, 1.4, 1, 1, 1],
    )


def build_report(settings: Settings, session: Session, *, end: datetime, days: int = 7) -> Report:
    tz = ZoneInfo(settings.timezone)
    start = end - timedelta(days=days)
    jobs = _jobs_tables(session, start, end, tz)
    by_type: dict[str, Counter[str]] = jobs["by_type"]
    totals: Counter[str] = sum(by_type.values(), Counter())
    per_day: dict[str, Counter[str]] = jobs["per_day"]
    daily_rows = [
        [day, sum(c.values()), c[states.SUCCESS], c[states.FAILURE], c[states.CANCELLED]]
        for day, c in per_day.items()
    ]
    imports, imported = _imports_table(session, start, end)
    backups = _backups_table(settings, session, start, end, tz)
    findings = _findings_table(session)
    tables = [
        Table("Jobs per day", ["Day", "Jobs", "Succeeded", "Failed", "Cancelled"], daily_rows),
        _by_type_table(by_type),
        _failures_table(session, start, end, tz),
        _durations_table(jobs["durations"]),
        imports,
        *([findings] if findings else []),
        backups,
    ]
    finished = totals[states.SUCCESS] + totals[states.FAILURE]
    figures = [
        ("Jobs", f"{jobs['total']:,}"),
        ("Succeeded", f"{totals[states.SUCCESS]:,}"),
        ("Failed", f"{totals[states.FAILURE]:,}"),
        ("Success rate", f"{totals[states.SUCCESS] * 100 / finished:.1f} %" if finished else "-"),
        ("Assets imported", f"{imported:,}"),
        ("Backups", f"{len(backups.rows)}"),
    ]
    return Report(
        title="SYNAPSE weekly report",
        start=start.astimezone(tz),
        end=end.astimezone(tz),
        timezone=settings.timezone,
        figures=figures,
        tables=tables,
        daily=[(day, c[states.SUCCESS], c[states.FAILURE]) for day, c in per_day.items()],
    )
