"""Files the system makes: written atomically under the data folder, recorded, downloadable.

A job writes its files with `write_files(...)` (or one with `write_file(...)`): each goes to a
temporary name in its folder and all are moved into place and recorded in one transaction only
when complete, so a cancelled or crashed job never leaves a half file, or half its files,
listed. The stored name is generated; the download name is the one given.
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
    """Where to write: `path` (a temporary name). Moved to `final` and recorded on success."""

    id: str
    path: Path
    final: Path
    name: str
    media_type: str | None = None


class FileBatch:
    """The files of one `write_files` block: each written to its temporary name, all moved into
    place and recorded together at the end (one transaction), or none."""

    def __init__(self, settings: Settings, kind: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown file kind {kind!r}")
        self.settings = settings
        self.folder = settings.data_dir / "files" / kind
        self.folder.mkdir(parents=True, exist_ok=True)
        self.files: list[tuple[PendingFile, dict[str, Any]]] = []

    def add(self, name: str, media_type: str | None = None) -> tuple[PendingFile, dict[str, Any]]:
        """A new file to write at `pending.path`; `record` is filled in (`{"id", "name", "size",
        "media_type"}`) once the block ends well."""
        file_id = str(uuid.uuid4())
        name = safe_name(name)
        final = self.folder / f"{file_id}{Path(name).suffix.lower()}"
        pending = PendingFile(file_id, self.folder / f".{file_id}.part", final, name, media_type)
        record: dict[str, Any] = {}
        self.files.append((pending, record))
        return pending, record

    def discard(self) -> None:
        for pending, _ in self.files:
            for path in (pending.path, pending.final):
                with contextlib.suppress(OSError):
                    path.unlink()


@contextmanager
def write_files(
    settings: Settings, *, kind: str, job_id: str | None, project_key: str | None
) -> Iterator[FileBatch]:
    """`with write_files(...) as batch:` `pending, record = batch.add(name)`, write each to
    `pending.path`; when the block ends well every file is moved into place and all are recorded
    in one transaction, so a job lists all its files or none. On any error nothing is kept."""
    batch = FileBatch(settings, kind)
    try:
        yield batch
        rows = []
        for pending, _ in batch.files:
            os.replace(pending.path, pending.final)
            size = pending.final.stat().st_size
            rows.append((pending, size, pending.media_type or media_type_of(pending.name)))
        with session_scope(settings) as session:
            for pending, size, media in rows:
                session.add(
                    StoredFile(
                        id=pending.id,
                        job_id=job_id,
                        project_key=project_key,
                        kind=kind,
                        name=pending.name,
                        path=str(pending.final.relative_to(settings.data_dir)),
                        size=size,
                        media_type=media,
                        created_at=utcnow(),
                    )
                )
    except BaseException:
        batch.discard()
        raise
    for (pending, record), (_, size, media) in zip(batch.files, rows, strict=True):
        record.update(public(file_id=pending.id, name=pending.name, size=size, media_type=media))


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
    """One file: `with write_file(...) as (pending, record):` (see `write_files`)."""
    with write_files(settings, kind=kind, job_id=job_id, project_key=project_key) as batch:
        yield batch.add(name, media_type)


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
