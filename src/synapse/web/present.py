"""How jobs read on the pages: units, durations, badges."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from synapse.jobs import states

UNITS = {"import_csv_assets": "rows", "generate_package": "pages", "run_rules": "assets"}
# Running, waiting, failed (what needs a look), then the finished: on "All", FAILED never sits
# below fifty COMPLETED rows.
GROUPS = (
    ("running", "Running"),
    ("queued", "Queued"),
    ("failed", "Failed"),
    ("completed", "Completed"),
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


def what(job: Any) -> str:
    """What a row is about: the file of an import, the kind of a package, the rules of a run."""
    params = job.params or {}
    result = job.result or {}
    if job.type == "import_csv_assets":
        return str(params.get("filename") or "")
    if job.type == "generate_package":
        kind = str(params.get("package_type") or "").replace("_", " ")
        formats = (params.get("options") or {}).get("formats") or []
        return f"{kind} package" + (f" ({', '.join(map(str, formats))})" if formats else "")
    if job.type == "run_rules" and isinstance(result.get("rules"), int):
        n = result["rules"]
        return f"{n} rule{'s' if n != 1 else ''}"
    if job.type == "undo_import" and params.get("import_job_id"):
        return f"undo of {str(params['import_job_id'])[:8]}"
    return ""


def marks(job: Any) -> list[tuple[str, str]]:
    """Badges that tell rows apart: (css class, text)."""
    params = job.params or {}
    result = job.result or {}
    out = []
    if params.get("mode") in ("preview", "dry_run") or result.get("preview"):
        out.append(("preview", "preview" if params.get("mode") == "preview" else "dry run"))
    if job.state == states.SUCCESS:
        skipped = result.get("skipped_count") or 0
        if skipped:
            out.append(("partial", f"{number(skipped)} rows skipped"))
    if job.retry_of:
        out.append(("retry", "retry"))
    return out


def may_act(principal: Any, job: Any) -> bool:
    """Members cancel and retry their own jobs; admins any (synapse.access.check_may_act)."""
    return bool(principal.is_admin or job.submitted_by == principal.id)


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


def utc(value: datetime | None) -> str:
    """A time as the server writes it when the browser has not relabelled it (no script)."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value else ""


FILTERS = {
    "number": number,
    "duration": duration,
    "iso": iso,
    "first_line": first_line,
    "utc": utc,
}

# What the row templates call (passed with the context by the queue and job pages).
ROW_HELPERS = {"what": what, "marks": marks, "may_act": may_act}
