"""The backup folder: file names, manifests, the files' records, listing and retention.

A backup is a file named with its UTC time (`synapse-20261130T070000.123Z.dump` / `.db`) in
SYNAPSE_BACKUP_DIR with a manifest beside it (`<name>.json`); a file counts as a verified backup
when its manifest says so and its size matches. The folder is the truth: the file records
(for downloads) follow it.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from synapse.config import Settings
from synapse.db.engine import session_scope
from synapse.db.models import Job, StoredFile, utcnow
from synapse.files import media_type_of, public

NAME = re.compile(r"^synapse-(\d{8}T\d{6}\.\d{3})Z\.(db|dump)$")


@dataclass(frozen=True)
class Backup:
    name: str
    path: Path
    size: int
    created_at: datetime
    verified: bool
    manifest: dict[str, Any]
    file_id: str | None = None

    def public(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "size": self.size,
            "created_at": self.created_at.isoformat(),
            "verified": self.verified,
            "file_id": self.file_id,
            "database": self.manifest.get("database"),
            "tables": self.manifest.get("tables"),
            "verification": self.manifest.get("verification"),
            "job_id": self.manifest.get("job_id"),
        }


def backup_name(moment: datetime, database: str) -> str:
    stamp = moment.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%f")[:-3]
    return f"synapse-{stamp}Z.{'db' if database == 'sqlite' else 'dump'}"


def time_of(name: str) -> datetime | None:
    match = NAME.match(name)
    if match is None:
        return None
    return datetime.strptime(match.group(1), "%Y%m%dT%H%M%S.%f").replace(tzinfo=UTC)


def manifest_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as src:
        while chunk := src.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def stored_path(settings: Settings, path: Path) -> str:
    try:
        return str(path.relative_to(settings.data_dir))
    except ValueError:
        return str(path)


def register(settings: Settings, path: Path, *, job_id: str | None) -> dict[str, Any]:
    """The file record of a backup (downloadable by admins at /api/v1/files/{id})."""
    size = path.stat().st_size
    created = time_of(path.name) or utcnow()
    media = media_type_of(path.name)
    with session_scope(settings) as session:
        if job_id is not None and session.get(Job, job_id) is None:
            job_id = None  # a backup made before the database was restored to an older state
        stored = StoredFile(
            id=hashlib.sha256(f"{path.name}:{size}".encode()).hexdigest()[:32],
            job_id=job_id,
            project_key=None,
            kind="backup",
            name=path.name,
            path=stored_path(settings, path),
            size=size,
            media_type=media,
            created_at=created,
        )
        session.merge(stored)
    return public(file_id=stored.id, name=path.name, size=size, media_type=media)


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(manifest_path(path).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def scan(settings: Settings) -> list[Backup]:
    """The backups in the folder (files with our names), newest first."""
    folder = settings.backups_dir
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        created = time_of(path.name)
        if created is None or not path.is_file():
            continue
        manifest = _read_manifest(path)
        size = path.stat().st_size
        verified = bool(manifest.get("verified")) and manifest.get("size") == size
        found.append(Backup(path.name, path, size, created, verified, manifest))
    return sorted(found, key=lambda b: b.created_at, reverse=True)


def list_backups(settings: Settings) -> list[Backup]:
    """The backups with their file ids. The folder is the truth: after a restore to an older
    state, a file without a record gets one, and a record whose file is gone goes."""
    backups = scan(settings)
    present = {b.name for b in backups}
    with session_scope(settings) as session:
        ids = {}
        for row in session.scalars(select(StoredFile).where(StoredFile.kind == "backup")):
            if row.name in present:
                ids[row.name] = row.id
            else:
                session.delete(row)
    listed = []
    for backup in backups:
        file_id = ids.get(backup.name)
        if file_id is None and backup.verified:
            file_id = register(settings, backup.path, job_id=backup.manifest.get("job_id"))["id"]
        listed.append(replace(backup, file_id=file_id))
    return listed


def prune_backups(settings: Settings, *, keep: int) -> list[str]:
    """Keep the newest `keep` verified backups; delete older verified ones (file, manifest,
    record). Files without a verified manifest are never counted or deleted here."""
    verified = [b for b in scan(settings) if b.verified]
    removed = []
    for backup in verified[keep:]:
        backup.path.unlink(missing_ok=True)
        manifest_path(backup.path).unlink(missing_ok=True)
        removed.append(backup.name)
    if removed:
        with session_scope(settings) as session:
            for row in session.scalars(
                select(StoredFile).where(StoredFile.kind == "backup", StoredFile.name.in_(removed))
            ):
                session.delete(row)
    return removed
