"""The weekly report job: build the report, store its PDF and workbook, list past reports."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from synapse.config import Settings
from synapse.db.engine import session_scope
from synapse.db.models import Job, StoredFile
from synapse.files import public, write_files
from synapse.jobs import states
from synapse.maintenance.common import Progress
from synapse.maintenance.report import build_report
from synapse.maintenance.report_pdf import render_pdf
from synapse.maintenance.report_xlsx import render_xlsx
from synapse.maintenance.schedule import REPORT_TASK

DAYS = 7


def run_report(
    settings: Settings, progress: Progress, *, end: datetime, job_id: str | None
) -> dict[str, Any]:
    """The report of the 7 days before `end`, as a PDF and an .xlsx of the same tables."""
    progress.update_progress(0, 3, "Reading the week's jobs, imports, findings and backups")
    with session_scope(settings) as session:
        report = build_report(settings, session, end=end, days=DAYS)
    stem = f"synapse-weekly-report-{report.end:%Y-%m-%d}"
    with write_files(settings, kind="report", job_id=job_id, project_key=None) as batch:
        progress.update_progress(1, 3, "Writing the PDF")
        pdf, pdf_record = batch.add(f"{stem}.pdf")
        pages = render_pdf(report, pdf.path)
        progress.update_progress(2, 3, "Writing the workbook")
        xlsx, xlsx_record = batch.add(f"{stem}.xlsx")
        render_xlsx(report, xlsx.path)
    files = [pdf_record, xlsx_record]
    figures = dict(report.figures)
    summary = (
        f"Weekly report {report.start:%Y-%m-%d} to {report.end:%Y-%m-%d}: "
        f"{figures['Jobs']} jobs, {figures['Failed']} failed ({pages} pages)"
    )
    progress.update_progress(3, 3, summary)
    return {
        "summary": summary,
        "period_start": report.start.isoformat(),
        "period_end": report.end.isoformat(),
        "figures": figures,
        "pages": pages,
        "files": files,
    }


def list_reports(session: Session, *, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    """Reports newest first: each job's period and its files."""
    query = select(Job).where(Job.type == REPORT_TASK, Job.state == states.SUCCESS)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    jobs = session.scalars(query.order_by(Job.created_at.desc()).limit(limit).offset(offset)).all()
    files: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if jobs:
        for stored in session.scalars(
            select(StoredFile)
            .where(StoredFile.job_id.in_([j.id for j in jobs]), StoredFile.kind == "report")
            .order_by(StoredFile.name)
        ):
            files[stored.job_id or ""].append(
                public(
                    file_id=stored.id,
                    name=stored.name,
                    size=stored.size,
                    media_type=stored.media_type,
                )
                | {"url": f"/api/v1/files/{stored.id}"}
            )
    items = [
        {
            "job_id": job.id,
            "created_at": job.finished_at or job.created_at,
            "period_start": (job.result or {}).get("period_start"),
            "period_end": (job.result or {}).get("period_end"),
            "figures": (job.result or {}).get("figures"),
            "files": files.get(job.id, []),
        }
        for job in jobs
    ]
    return items, total
