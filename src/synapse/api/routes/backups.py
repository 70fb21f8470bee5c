"""Backups (admins): the verified files with their download ids, and a backup now."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from synapse import audit
from synapse.api.deps import CeleryDep, RunAtDep, SettingsDep
from synapse.api.idempotency import IDEMPOTENT, IdempotentRoute
from synapse.api.schemas import UploadAccepted
from synapse.api.security import AdminDep
from synapse.jobs.service import submit_job
from synapse.maintenance.backup_files import list_backups
from synapse.maintenance.schedule import BACKUP_TASK

router = APIRouter(prefix="/api/v1/admin/backups", tags=["backups"], route_class=IdempotentRoute)


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


@router.post("", status_code=202, response_model=UploadAccepted, dependencies=[IDEMPOTENT])
async def create_backup(
    settings: SettingsDep,
    celery: CeleryDep,
    admin: AdminDep,
    request: Request,
    run_at: RunAtDep = None,
) -> UploadAccepted:
    """Queue a backup job now; answers at once with its job id."""
    job_id = str(uuid.uuid4())
    entry = {
        "actor": admin.id,
        "action": "backup.create",
        "target": f"backup job {job_id}",
        "detail": {"job_id": job_id},
        "client": audit.client_address(request),
    }  # in the job row's transaction, so that the backup holds it
    job = await run_in_threadpool(
        submit_job,
        settings=settings,
        celery=celery,
        task_name=BACKUP_TASK,
        params={},
        submitted_by=admin.id,
        job_id=job_id,
        audit_entry=entry,
        run_at=run_at,
    )
    return UploadAccepted.of(job, "Backup")
