"""Weekly reports (admins: they cover every project): each with its period and files."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from synapse.api.deps import LimitQ, OffsetQ, SessionDep
from synapse.api.security import AdminDep
from synapse.maintenance.weekly import list_reports

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])


class ReportList(BaseModel):
    items: list[dict[str, Any]]
    total: int
    limit: int
    offset: int


@router.get("", response_model=ReportList)
def get_reports(
    session: SessionDep, admin: AdminDep, limit: LimitQ = 20, offset: OffsetQ = 0
) -> ReportList:
    """Newest first: `job_id`, `created_at`, `period_start`, `period_end`, `figures` and
    `files` (the PDF and the .xlsx, each downloadable at its `url`)."""
    items, total = list_reports(session, limit=limit, offset=offset)
    return ReportList(items=items, total=total, limit=limit, offset=offset)
