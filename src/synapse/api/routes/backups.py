"""Backups (admins): the verified files with their download ids, and a backup now."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from synapse.api.deps import CeleryDep, SettingsDep
from synapse.api.schemas import UploadAccepted
from synapse.api.security import AdminDep
from synapse.maintenance.backup_files import list_backups
from synapse.maintenance.service import queue_backup

router = APIRouter(prefix="/api/v1/admin/backups", tags=["backups"])


class BackupList(BaseModel):
    items: list[dict[str, Any]]
    total: int
    directory: str
    keep: int


@router.get("", response_model=BackupList)
def get_backups(settings: SettingsDep, admin: AdminDep) -> BackupList:
    """Newest first: `name`, `size`, `created_at`, `verified`, `file_id` (download it at
    /api/v1/files/{file_id}), the database kind and the row counts of its tables."""
    items = [b.public() for b in list_backups(settings)]
    return BackupList(
        items=items,
        total=len(items),
        directory=str(settings.backups_dir),
        keep=settings.backup_keep,
    )


@router.post("", status_code=202, response_model=UploadAccepted)
async def create_backup(
    settings: SettingsDep, celery: CeleryDep, admin: AdminDep
) -> UploadAccepted:
    """Queue a backup job now; answers at once with its job id."""
    job_id = await run_in_threadpool(queue_backup, settings=settings, celery=celery, by=admin.id)
    return UploadAccepted(
        job_id=job_id,
        status="QUEUED",
        message=f"Backup queued; follow it on /ws/logs?job_id={job_id}",
    )
