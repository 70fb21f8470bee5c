"""The operators' audit trail: every action that changes what the system does or holds
(docs/operations.md, "Audit"), with who did it, to what, when and from which address.

Routes, CLI commands and the login page call `record` in the same transaction as the action
itself where there is one, so an action and its audit row land (or roll back) together.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from synapse.db.models import AuditEvent, utcnow

# What is recorded; `GET /api/v1/audit?action=` takes these.
ACTIONS = (
    "job.cancel",
    "job.retry",
    "jobs.bulk_cancel",
    "jobs.bulk_retry",
    "queue.pause",
    "queue.resume",
    "schedule.run",
    "backup.create",
    "backup.restore",
    "rule.create",
    "rule.update",
    "rule.delete",
    "import.commit",
    "import.undo",
    "token.login",
)
CLI_ACTOR = "cli"  # actions taken on the machine itself (`synapse restore`), not over HTTP


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    target: str,
    detail: Mapping[str, Any] | None = None,
    client: str | None = None,
) -> AuditEvent:
    """Add one audit row to the caller's transaction (it commits with the action)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    event = AuditEvent(
        at=utcnow(),
        actor=actor[:100],
        action=action,
        target=target[:200],
        detail=dict(detail or {}),
        client=(client or None) and client[:64],
    )
    session.add(event)
    return event


def client_address(request: Any) -> str | None:
    """The peer's address as the server saw it (a proxy's own address when behind one)."""
    client = getattr(request, "client", None)
    return getattr(client, "host", None)


def list_events(
    session: Session,
    *,
    limit: int,
    offset: int = 0,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
) -> tuple[list[AuditEvent], int]:
    query = select(AuditEvent)
    if actor:
        query = query.where(AuditEvent.actor == actor)
    if action:
        query = query.where(AuditEvent.action == action)
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit).offset(offset)
    ).all()
    return list(rows), int(total)


def prune(session: Session, *, older_than_days: int, now: datetime | None = None) -> int:
    """Delete audit rows older than the audit's own retention; returns how many."""
    cutoff = (now or utcnow()) - timedelta(days=older_than_days)
    result = session.execute(delete(AuditEvent).where(AuditEvent.at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)


def as_dict(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "at": event.at,
        "actor": event.actor,
        "action": event.action,
        "target": event.target,
        "detail": event.detail or {},
        "client": event.client,
    }
