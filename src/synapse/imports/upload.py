"""Receiving an upload (CSV or workbook): stored under a generated name, checked, inspected
for the guided import, then queued as a job."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path, PurePath
from typing import Any, BinaryIO

import orjson
from celery import Celery

from synapse.config import Settings
from synapse.db.engine import session_scope
from synapse.db.models import Job
from synapse.errors import InvalidInput, NotFound, PayloadTooLarge
from synapse.imports.service import check_mode
from synapse.imports.table import parse_sheet, read_layout
from synapse.jobs.service import check_queue, submit_job
from synapse.projects import check_key, ensure_project

CHUNK = 1 << 20
IMPORT_TASK = "import_csv_assets"
SUFFIX = ".upload"
MAX_HEADER_ROW = 1_048_576  # Excel's last row
_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")


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


def parse_mapping(value: str | Mapping[str, Any] | None) -> dict[str, str | None] | None:
    """The `mapping` form field: a JSON object from column header to tag, type, prop:<name> or
    null. What each target means is checked against the file's header later."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            raise InvalidInput(f"mapping is not valid JSON: {exc}") from None
    if not isinstance(value, Mapping):
        raise InvalidInput("mapping must be a JSON object from column header to target")
    if len(value) > 1000:
        raise InvalidInput("mapping names more than 1,000 columns")
    out: dict[str, str | None] = {}
    for header, target in value.items():
        if not isinstance(header, str) or len(header) > 500:
            raise InvalidInput("mapping keys must be column headers of at most 500 characters")
        if target is not None and not isinstance(target, str):
            raise InvalidInput(
                f"mapping of {header!r} must be 'tag', 'type', 'prop:<name>' or null, "
                f"not {target!r}"
            )
        out[header] = target
    return out


def parse_header_row(value: int | str | None) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = int(value)
    except ValueError:
        raise InvalidInput(f"header_row must be a row number, not {value!r}") from None
    if not 1 <= number <= MAX_HEADER_ROW:
        raise InvalidInput(f"header_row must be between 1 and {MAX_HEADER_ROW:,}, not {number}")
    return number


def store_upload(settings: Settings, src: BinaryIO) -> tuple[str, Path, int]:
    """Keep an upload under a generated name: (upload id, path, size)."""
    upload_id = uuid.uuid4().hex
    path = settings.uploads_dir / f"{upload_id}{SUFFIX}"
    size = save_upload(settings, src, path)
    return upload_id, path, size


def upload_path(settings: Settings, upload_id: str) -> Path:
    """The stored file of an earlier upload (the guided import sends a file once)."""
    if not _UPLOAD_ID.match(upload_id or ""):
        raise InvalidInput("upload_id must be the id an earlier inspect call answered")
    path = settings.uploads_dir / f"{upload_id}{SUFFIX}"
    if not path.is_file():
        raise NotFound(f"upload {upload_id} not found (uploads are kept for a day): send the file")
    return path


def check_table(
    path: Path,
    *,
    sheet: str | int | None,
    header_row: int | None,
    mapping: Mapping[str, str | None] | None,
) -> None:
    """Refuse at once what the import would refuse before its first row: not a CSV or a
    workbook, no header, a mapping that does not fit, no data rows."""
    with read_layout(path, sheet=sheet, header_row=header_row, mapping=mapping) as layout:
        if next(layout.records, None) is None:
            raise InvalidInput(
                f"the file has a header (row {layout.header_row}) but no data rows below it"
            )


def submit_import(
    *,
    settings: Settings,
    celery: Celery,
    project_key: str,
    src: BinaryIO | None,
    filename: str | None,
    priority: str = "default",
    mode: str = "upsert",
    skip_invalid: bool = False,
    submitted_by: str | None = None,
    upload_id: str | None = None,
    sheet: str | None = None,
    header_row: int | str | None = None,
    mapping: str | Mapping[str, Any] | None = None,
    run_at: datetime | None = None,
) -> Job:
    """Store (or find) the file, check what can be checked at once, and queue the import
    (or schedule it for `run_at`)."""
    project_key = check_key(project_key)
    check_mode(mode)
    check_queue(priority)
    columns = parse_mapping(mapping)
    row = parse_header_row(header_row)
    chosen = parse_sheet(sheet)
    if src is None:
        if not upload_id:
            raise InvalidInput("send the file (field 'file') or an earlier upload_id")
        path, stored_here = upload_path(settings, upload_id), False
    else:
        _id, path, _size = store_upload(settings, src)
        stored_here = True
    try:
        check_table(path, sheet=chosen, header_row=row, mapping=columns)
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
            }
            | ({"sheet": chosen} if chosen is not None else {})
            | ({"header_row": row} if row is not None else {})
            | ({"mapping": columns} if columns is not None else {}),
            queue=priority,
            project_key=project_key,
            submitted_by=submitted_by,
            run_at=run_at,
        )
    except InvalidInput:
        if stored_here:
            path.unlink(missing_ok=True)
        raise
