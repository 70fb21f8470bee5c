"""The operators' audit trail: every action that changes what the system does or holds
(docs/operations.md, "Audit"), with who did it, to what, when and from which address.

Routes, CLI commands and the login page call `record` in the same transaction as the action
itself where there is one, so an action and its audit row land (or roll back) together.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from synapse.db.engine import session_scope
from synapse.db.models import AuditEvent, utcnow
from synapse.errors import InvalidInput

if TYPE_CHECKING:
    from synapse.auth import Principal
    from synapse.config import Settings

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
    "webhook.create",
    "webhook.delete",
    "webhook.test",
)
CLI_ACTOR = "cli"  # actions taken on the machine itself (`synapse restore`), not over HTTP
# Keys never kept in a detail, at any depth: a token or a password has no place in the trail.
SECRET_KEY = re.compile(r"token|secret|password|passwd|authorization|cookie|api_key", re.I)
SINCE_WORDS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7)}


def scrubbed(value: Any) -> Any:
    """The detail without any key that names a secret (replaced by "***")."""
    if isinstance(value, Mapping):
        return {
            str(k): "***" if SECRET_KEY.search(str(k)) else scrubbed(v) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [scrubbed(v) for v in value]
    return value


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
        detail=scrubbed(dict(detail or {})),
        client=(client or None) and client[:64],
    )
    session.add(event)
    return event


def client_address(request: Any) -> str | None:
    """The peer's address as the server saw it (a proxy's own address when behind one)."""
    client = getattr(request, "client", None)
    return getattr(client, "host", None)


def record_by(
    session: Session,
    principal: Principal,
    request: Any,
    action: str,
    target: str,
    detail: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """`record` for an HTTP caller: the principal's id (a token's fingerprint, never the
    token) as the actor and the request's peer address as the client."""
    return record(
        session,
        actor=principal.id,
        action=action,
        target=target,
        detail=detail,
        client=client_address(request),
    )


def record_now(
    settings: Settings,
    *,
    actor: str,
    action: str,
    target: str,
    detail: Mapping[str, Any] | None = None,
    client: str | None = None,
) -> None:
    """`record` in a transaction of its own, for actions that commit their own work (a job
    queued by a service that opens its session)."""
    with session_scope(settings) as session:
        record(session, actor=actor, action=action, target=target, detail=detail, client=client)


def checked_action(action: str | None) -> str | None:
    if action and action not in ACTIONS:
        raise InvalidInput(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
    return action or None


def parse_since(since: str | None, *, now: datetime | None = None) -> datetime | None:
    """`1h`, `24h`, `7d` or an ISO 8601 time (UTC when it has no offset)."""
    if not since:
        return None
    if since in SINCE_WORDS:
        return (now or utcnow()) - SINCE_WORDS[since]
    try:
        moment = datetime.fromisoformat(since.replace(" ", "+"))
    except ValueError:
        raise InvalidInput(
            f"since must be 1h, 24h, 7d or an ISO 8601 time, not {since!r}"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


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
