"""How jobs read on the pages: units, durations, badges."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from synapse.jobs import states

UNITS = {"import_csv_assets": "rows", "generate_package": "pages", "run_rules": "assets"}
GROUPS = (
    ("running", "Running"),
    ("queued", "Queued"),
    ("completed", "Completed"),
    ("failed", "Failed"),
    ("cancelled", "Cancelled"),
)
BADGE = {
    states.QUEUED: "queued",
    states.RUNNING: "running",
    states.RETRYING: "retrying",
    states.SUCCESS: "success",
    states.FAILURE: "failure",
    states.CANCELLED: "cancelled",
}


def unit(job_type: str) -> str:
    return UNITS.get(job_type, "items")


def number(value: Any) -> str:
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return str(value)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""


def first_line(text: str | None, limit: int = 160) -> str:
    line = (text or "").strip().splitlines()[0] if text and text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


FILTERS = {"number": number, "duration": duration, "iso": iso, "first_line": first_line}
