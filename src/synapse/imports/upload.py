"""Receiving an uploaded CSV: stored under a generated name, checked, then queued as a job."""

from __future__ import annotations

import uuid
from pathlib import Path, PurePath
from typing import BinaryIO

from celery import Celery

from synapse.config import Settings
from synapse.db.engine import session_scope
from synapse.db.models import Job
from synapse.errors import InvalidInput, PayloadTooLarge
from synapse.imports import reader
from synapse.imports.service import check_mode
from synapse.jobs.service import check_queue, submit_job
from synapse.projects import check_key, ensure_project

CHUNK = 1 << 20
IMPORT_TASK = "import_csv_assets"


def display_name(filename: str | None) -> str:
    """The client's file name, for display only: never used as a path."""
    name = PurePath((filename or "upload.csv").replace("\\", "/")).name
    cleaned = "".join(c for c in name if c.isprintable())[:200]
    return cleaned or "upload.csv"


def save_upload(settings: Settings, src: BinaryIO, dest: Path) -> int:
    """Copy the upload to `dest`, refusing more than the size limit. Returns its size."""
    limit = settings.max_upload_bytes
    dest.parent.mkdir(parents=True, exist_ok=True)
    size = 0
    out = dest.open("xb")  # never an existing file: a name clash fails here, touching nothing
    try:
        with out:
            while chunk := src.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(
                        f"the file is larger than the {settings.max_upload_mb} MB upload limit"
                    )
                out.write(chunk)
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    return size


def check_csv(path: Path) -> reader.CsvFormat:
    fmt = reader.sniff(path)
    if next(reader.iter_records(path, fmt), None) is None:
        raise InvalidInput("the file has a header but no data rows")
    return fmt


def submit_import(
    *,
    settings: Settings,
    celery: Celery,
    project_key: str,
    src: BinaryIO,
    filename: str | None,
    priority: str = "default",
    mode: str = "upsert",
    skip_invalid: bool = False,
    submitted_by: str | None = None,
) -> Job:
    project_key = check_key(project_key)
    check_mode(mode)
    check_queue(priority)
    job_id = str(uuid.uuid4())
    path = settings.uploads_dir / f"{job_id}.csv"
    save_upload(settings, src, path)
    try:
        check_csv(path)
        with session_scope(settings) as session:
            ensure_project(session, project_key)
        return submit_job(
            settings=settings,
            celery=celery,
            task_name=IMPORT_TASK,
            params={
                "project_id": project_key,
                "file_path": str(path),
                "mode": mode,
                "skip_invalid": skip_invalid,
                "filename": display_name(filename),
            },
            queue=priority,
            project_key=project_key,
            submitted_by=submitted_by,
            job_id=job_id,
        )
    except InvalidInput:
        path.unlink(missing_ok=True)
        raise
