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
    states.SCHEDULED: "queued",
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


# Parameters a person does not need to read: where the server keeps the upload.
HIDDEN_PARAMS = frozenset({"file_path", "path", "upload_path"})
LABELS = {True: "yes", False: "no", None: "—"}


def parameters(params: Any) -> list[tuple[str, str]]:
    """A job's parameters as a person reads them: (name, text) pairs, no Python reprs, no
    server paths; nested options become `name: value` items, unset ones left out."""
    if not isinstance(params, dict):
        return []
    shown = []
    for key, value in params.items():
        if key in HIDDEN_PARAMS:
            continue
        if key == "mapping" and isinstance(value, dict):  # header → target, None: ignored
            text = "; ".join(f"{h} → {t or 'ignored'}" for h, t in value.items()) or "—"
        else:
            text = plain(value)
        shown.append((key.replace("_", " "), text))
    return shown


def plain(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return LABELS[value]
    if isinstance(value, dict):
        shown = [
            f"{k.replace('_', ' ')}: {plain(v)}"
            for k, v in value.items()
            if v not in (None, [], {}, "")
        ]
        return "; ".join(shown) or "—"
    if isinstance(value, list | tuple):
        return ", ".join(plain(v) for v in value) or "—"
    if isinstance(value, int | float):
        return number(value) if isinstance(value, int) else f"{value:g}"
    return str(value)


def size(value: Any) -> str:
    """Bytes as a person reads them: 812 bytes, 14.2 KB, 3.4 MB."""
    try:
        n = float(value)
    except (TypeError, ValueError):
        return ""
    for unit_name, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit_name}"
    return f"{int(n):,} bytes"


FILTERS = {
    "size": size,
    "number": number,
    "duration": duration,
    "iso": iso,
    "first_line": first_line,
    "utc": utc,
}

# What the row templates call (passed with the context by the queue and job pages).
ROW_HELPERS = {"what": what, "marks": marks, "may_act": may_act}
