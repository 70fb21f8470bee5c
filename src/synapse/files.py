"""Files the system makes: written atomically under the data folder, recorded, downloadable.

A job writes a file with `write_file(...)`: the content goes to a temporary name in the same
folder and is moved into place only when complete, so a cancelled or crashed job never leaves a
half file listed. The stored name is generated; the download name is the one given.
"""

from __future__ import annotations

import contextlib
import mimetypes
import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from synapse.config import Settings
from synapse.db.engine import session_scope
from synapse.db.models import StoredFile, utcnow
from synapse.errors import NotFound

KINDS = ("package", "report", "backup", "export")
MEDIA_TYPES = {
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".pdf": "application/pdf",
    ".csv": "text/csv",
    ".dump": "application/octet-stream",
    ".db": "application/vnd.sqlite3",
}


def safe_name(name: str) -> str:
    """A download name without path parts or characters that upset browsers and shells."""
    base = os.path.basename(name.replace("\\", "/"))
    cleaned = re.sub(r"[^\w.\- ]+", "_", base, flags=re.UNICODE).strip(" .")
    return cleaned[:200] or "file"


def media_type_of(name: str) -> str:
    ext = Path(name).suffix.lower()
    return MEDIA_TYPES.get(ext) or mimetypes.guess_type(name)[0] or "application/octet-stream"


@dataclass(frozen=True)
class PendingFile:
    """Where to write: `path` (a temporary name). Committed by `write_file` on success."""

    id: str
    path: Path
    final: Path
    name: str


@contextmanager
def write_file(
    settings: Settings,
    *,
    kind: str,
    name: str,
    job_id: str | None,
    project_key: str | None,
    media_type: str | None = None,
) -> Iterator[tuple[PendingFile, dict[str, Any]]]:
    """`with write_file(...) as (pending, record):` write to `pending.path`; on success the file is
    moved into place and recorded, and `record` holds its public description
    (`{"id", "name", "size", "media_type"}`). On any error the temporary file is removed."""
    if kind not in KINDS:
        raise ValueError(f"unknown file kind {kind!r}")
    file_id = str(uuid.uuid4())
    name = safe_name(name)
    folder = settings.data_dir / "files" / kind
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{file_id}{Path(name).suffix.lower()}"
    pending = PendingFile(id=file_id, path=folder / f".{file_id}.part", final=final, name=name)
    record: dict[str, Any] = {}
    try:
        yield pending, record
        os.replace(pending.path, final)
        size = final.stat().st_size
        media = media_type or media_type_of(name)
        with session_scope(settings) as session:
            session.add(
                StoredFile(
                    id=file_id,
                    job_id=job_id,
                    project_key=project_key,
                    kind=kind,
                    name=name,
                    path=str(final.relative_to(settings.data_dir)),
                    size=size,
                    media_type=media,
                    created_at=utcnow(),
                )
            )
        record.update(public(file_id=file_id, name=name, size=size, media_type=media))
    except BaseException:
        with contextlib.suppress(OSError):
            pending.path.unlink()
        with contextlib.suppress(OSError):
            if not record:
                final.unlink()
        raise


def public(*, file_id: str, name: str, size: int, media_type: str) -> dict[str, Any]:
    return {"id": file_id, "name": name, "size": size, "media_type": media_type}


def get_file(session: Session, file_id: str) -> StoredFile:
    stored = session.get(StoredFile, file_id)
    if stored is None:
        raise NotFound(f"file {file_id} not found")
    return stored


def absolute_path(settings: Settings, stored: StoredFile) -> Path:
    path = (settings.data_dir / stored.path).resolve()
    roots = (settings.data_dir, settings.backups_dir)  # backups may live in SYNAPSE_BACKUP_DIR
    if not any(root in path.parents for root in roots) or not path.is_file():
        raise NotFound(f"file {stored.id} is no longer stored")
    return path


def files_of_job(session: Session, job_id: str) -> list[StoredFile]:
    query = select(StoredFile).where(StoredFile.job_id == job_id).order_by(StoredFile.created_at)
    return list(session.scalars(query))
