"""Column mappings remembered per project, by the header layout of the file they were used on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from synapse.db.models import ImportMapping, utcnow
from synapse.imports.headers import header_key
from synapse.imports.mapping import ColumnPlan


def remember(
    session: Session, *, project_id: int, plan: ColumnPlan, job_id: str | None, by: str | None
) -> None:
    """Keep the mapping an import used, for the next file with the same header."""
    key = header_key(plan.header)
    found = session.scalar(
        select(ImportMapping).where(
            ImportMapping.project_id == project_id, ImportMapping.header_key == key
        )
    )
    values = {
        "header": list(plan.header),
        "mapping": dict(plan.mapping),
        "used_at": utcnow(),
        "used_by": by,
        "job_id": job_id,
    }
    if found is not None:
        for name, value in values.items():
            setattr(found, name, value)
        return
    try:
        with session.begin_nested():
            session.add(ImportMapping(project_id=project_id, header_key=key, **values))
    except IntegrityError:  # another import of this layout remembered it in the same moment
        pass


def for_header(session: Session, project_id: int, header: Sequence[str]) -> ImportMapping | None:
    return session.scalar(
        select(ImportMapping).where(
            ImportMapping.project_id == project_id,
            ImportMapping.header_key == header_key(header),
        )
    )


def list_mappings(
    session: Session, project_id: int, *, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    query = select(ImportMapping).where(ImportMapping.project_id == project_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(ImportMapping.used_at.desc()).limit(limit).offset(offset)
    ).all()
    return [
        {
            "header_key": m.header_key,
            "header": m.header,
            "mapping": m.mapping,
            "used_at": m.used_at,
            "used_by": m.used_by,
            "job_id": m.job_id,
        }
        for m in rows
    ], int(total)
