"""Typer commands that speak to a running SYNAPSE API (SYNAPSE_API_URL, SYNAPSE_TOKEN).

`synapse import FILE --project P [--follow]`, `synapse jobs ls|show|cancel|retry|logs` and
`synapse demo-data`. Each parses its options, calls the API client and shapes the output; the
exit status is 0 when the job (or request) succeeded, 1 when it did not, 2 on a usage problem.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from synapse.client.api import ApiClient, ApiError
from synapse.client.demo import write_assets_csv
from synapse.client.follow import Update, watch
from synapse.config import get_settings

P = ParamSpec("P")
R = TypeVar("R")

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

jobs_app = typer.Typer(
    help="List, show, cancel and retry the jobs of a running SYNAPSE API.", no_args_is_help=True
)
STATE_STYLE = {"SUCCESS": "green", "FAILURE": "red", "CANCELLED": "yellow", "RUNNING": "cyan"}


def _client() -> ApiClient:
    return ApiClient.from_settings(get_settings())


def api_errors(func: Callable[P, R]) -> Callable[P, R]:
    """The API's refusals as one line on stderr and exit status 1 (2: cannot reach it)."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except ApiError as exc:
            err.print(f"synapse: {exc.detail}", markup=False)
            raise typer.Exit(2 if exc.status == 0 else 1) from None

    return wrapper


def _rows(job: dict[str, Any]) -> str:
    if job.get("total"):
        return f"{job['current']:,}/{job['total']:,}"
    return ""


def _when(value: str | None) -> str:
    if not value:
        return ""
    return datetime.fromisoformat(value).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _summary(job: dict[str, Any]) -> str:
    result = job.get("result") or {}
    state = job["state"]
    if state == "SUCCESS" and "created_count" in result:
        same = result.get("unchanged_count") or 0
        return (
            f"created {result['created_count']:,}, updated {result.get('updated_count', 0):,}"
            + (f", unchanged {same:,}" if same else "")
            + f" of {result.get('total_rows', 0):,} rows"
        )
    if state == "FAILURE":
        return str(job.get("error") or job.get("message") or "")
    return str(job.get("message") or "")


def _finish_line(job: dict[str, Any]) -> int:
    state = job["state"]
    took = f" in {job['duration_seconds']:.1f}s" if job.get("duration_seconds") else ""
    style = STATE_STYLE.get(state, "")
    out.print(f"[{style}]{state}[/]{took}: {_summary(job)}" if style else f"{state}: {job}")
    errors = (job.get("result") or {}).get("errors") or []
    for row_error in errors[:20]:
        out.print(
            f"  row {row_error.get('row')}, {row_error.get('column')}: {row_error.get('reason')}",
            markup=False,
        )
    if len(errors) > 20:
        out.print(f"  … and {len(errors) - 20} more: synapse jobs show {job['id']} --json")
    return 0 if state == "SUCCESS" else 1


def follow_with_progress(client: ApiClient, job_id: str) -> dict[str, Any]:
    """A rich progress bar fed by the job's live stream; returns the job as it ended."""
    columns = (
        TextColumn("{task.description:<9}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rows]}"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[message]}"),
    )
    with Progress(*columns, console=out, transient=False) as progress:
        bar = progress.add_task("QUEUED", total=100, rows="", message="")
        for update in watch(client, job_id):
            _show(progress, bar, update)
    return client.job(job_id)


def _show(progress: Progress, bar: Any, update: Update) -> None:
    if update.action_type == "LOG":
        progress.console.print(f"  {update.level}: {update.message}", markup=False)
        return
    rows = f"{update.current:,}/{update.total:,} rows" if update.total > 1 else ""
    progress.update(
        bar,
        description=update.state,
        completed=update.percent,
        rows=rows,
        message=update.message[:60],
    )


@api_errors
def import_file(
    file: Annotated[Path, typer.Argument(help="the CSV file", exists=True, dir_okay=False)],
    project: Annotated[str, typer.Option("--project", "-p", help="project key")],
    priority: Annotated[str, typer.Option(help="urgent, default or bulk")] = "default",
    mode: Annotated[str, typer.Option(help="upsert, insert or dry_run")] = "upsert",
    skip_invalid: Annotated[bool, typer.Option(help="import valid rows, list the rest")] = False,
    follow: Annotated[bool, typer.Option(help="show live progress until the job ends")] = False,
) -> None:
    """Upload a CSV of assets and queue its import (on a running API)."""
    with _client() as client:
        queued = client.upload_csv(
            file, project=project, priority=priority, mode=mode, skip_invalid=skip_invalid
        )
        job_id = queued["job_id"]
        out.print(f"job {job_id} queued ({priority}): {file.name} → {project}", markup=False)
        if not follow:
            return
        job = follow_with_progress(client, job_id)
    raise typer.Exit(_finish_line(job))


@jobs_app.command("ls")
@api_errors
def list_jobs(
    state: Annotated[
        str | None, typer.Option(help="running, queued, completed, failed, cancelled")
    ] = None,
    type: Annotated[str | None, typer.Option(help="job type, e.g. import_csv_assets")] = None,
    since: Annotated[str, typer.Option(help="1h, 24h, 7d or all")] = "24h",
    project: Annotated[str | None, typer.Option(help="project key")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="print the API's JSON")] = False,
) -> None:
    """List jobs, newest first."""
    with _client() as client:
        body = client.jobs(state=state, type=type, since=since, project_id=project, limit=limit)
    if as_json:
        out.print_json(json.dumps(body))
        return
    # Whole ids, to copy into `synapse jobs show`; on a narrow terminal the extras give way.
    names = ["id", "type", "project", "state", "%", "rows", "created", "took", "message"]
    if out.width < 140:
        names = ["id", "type", "state", "%", "took"]
    table = Table(*names, box=None, padding=(0, 2, 0, 0), header_style="bold")
    for column in table.columns:
        column.no_wrap, column.overflow = True, "ellipsis"
        if column.header == "message":
            column.max_width = max(10, out.width - 132)  # what the others leave
    for job in body["items"]:
        style = STATE_STYLE.get(job["state"], "")
        cells = {
            "id": job["id"],
            "type": job["type"],
            "project": job.get("project_id") or "",
            "state": f"[{style}]{job['state']}[/]" if style else job["state"],
            "%": str(job["percent"]),
            "rows": _rows(job),
            "created": _when(job["created_at"]),
            "took": f"{job['duration_seconds']:.1f}s" if job.get("duration_seconds") else "",
            "message": (job.get("message") or "")[:60],
        }
        table.add_row(*(cells[name] for name in names))
    out.print(table)
    out.print(f"{len(body['items'])} of {body['total']} jobs")


@jobs_app.command("show")
@api_errors
def show_job(
    job_id: str,
    as_json: Annotated[bool, typer.Option("--json", help="print the API's JSON")] = False,
) -> None:
    """Show one job: state, progress, times, result or error."""
    with _client() as client:
        job = client.job(job_id)
    if as_json:
        out.print_json(json.dumps(job))
        return
    table = Table.grid(padding=(0, 2))
    for key in ("id", "type", "project_id", "queue", "state", "percent", "message", "attempts",
                "worker", "submitted_by", "retry_of", "created_at", "started_at", "finished_at",
                "duration_seconds", "error"):  # fmt: skip
        value = job.get(key)
        if value not in (None, ""):
            table.add_row(f"[bold]{key}[/]", str(_when(value) if key.endswith("_at") else value))
    if job.get("total"):
        table.add_row("[bold]rows[/]", _rows(job))
    if job.get("result"):
        table.add_row("[bold]result[/]", json.dumps(job["result"], indent=1)[:2000])
    out.print(table)


@jobs_app.command("cancel")
@api_errors
def cancel_job(job_id: str) -> None:
    """Cancel a queued or running job (a running one stops at its next checkpoint)."""
    with _client() as client:
        job = client.cancel(job_id)
    out.print(f"job {job_id}: {job['state']} ({job['message']})", markup=False)


@jobs_app.command("retry")
@api_errors
def retry_job(
    job_id: str,
    follow: Annotated[bool, typer.Option(help="show live progress until the new job ends")] = False,
) -> None:
    """Run a failed or cancelled job again, as a new job with the same parameters."""
    with _client() as client:
        job = client.retry(job_id)
        out.print(f"job {job['id']} queued as a retry of {job_id}", markup=False)
        if not follow:
            return
        job = follow_with_progress(client, job["id"])
    raise typer.Exit(_finish_line(job))


@jobs_app.command("logs")
@api_errors
def job_logs(
    job_id: str,
    follow: Annotated[bool, typer.Option(help="print new lines until the job ends")] = False,
) -> None:
    """Print a job's log lines."""
    with _client() as client:
        last = _print_logs(client, job_id, 0)
        if not follow:
            return
        # The live stream says when something happened; the lines themselves come from the API,
        # in order and each once.
        for update in watch(client, job_id):
            last = _print_logs(client, job_id, last)
            if update.finished:
                break
        _print_logs(client, job_id, last)
        job = client.job(job_id)
    raise typer.Exit(_finish_line(job))


def _print_logs(client: ApiClient, job_id: str, after_id: int) -> int:
    for line in client.logs(job_id, after_id=after_id):
        out.print(f"{_when(line['at'])} {line['level']:<7} {line['message']}", markup=False)
        after_id = max(after_id, int(line["id"]))
    return after_id


def demo_data(
    rows: Annotated[int, typer.Option(min=1, help="number of asset rows")] = 1000,
    out_file: Annotated[Path, typer.Option("--out", "-o", help="where to write the CSV")] = Path(
        "demo-assets.csv"
    ),
    seed: Annotated[int, typer.Option(help="the same seed gives the same file")] = 1,
) -> None:
    """Write a realistic asset CSV (tags, types, areas, ratings, makers, descriptions)."""
    size = write_assets_csv(out_file, rows, seed=seed)
    out.print(f"wrote {rows:,} assets to {out_file} ({size / 1024:,.0f} KiB)", markup=False)
