"""/api/v1/audit: the operators' audit trail, newest first (admins; docs/dashboard-and-audit.md)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from synapse import audit
from synapse.api.deps import LimitQ, OffsetQ, SessionDep
from synapse.api.security import AdminDep

router = APIRouter(prefix="/api/v1", tags=["operators"])

ActorQ = Annotated[str | None, Query(description="a principal id, e.g. admin-1a2b3c4d or cli")]
ActionQ = Annotated[str | None, Query(description=f"one of {', '.join(audit.ACTIONS)}")]
SinceQ = Annotated[
    str | None, Query(description="ISO 8601 time (with offset; UTC without), or 1h, 24h, 7d")
]


@router.get("/audit")
def list_audit(
    session: SessionDep,
    admin: AdminDep,
    limit: LimitQ = 50,
    offset: OffsetQ = 0,
    actor: ActorQ = None,
    action: ActionQ = None,
    since: SinceQ = None,
) -> dict[str, Any]:
    """Every operator action: `{"items": [{"at", "actor", "action", "target", "detail",
    "client"}], "total"}`, newest first; `actor`, `action` and `since` narrow it."""
    events, total = audit.list_events(
        session,
        limit=limit,
        offset=offset,
        actor=actor or None,
        action=audit.checked_action(action),
        since=audit.parse_since(since),
    )
    return {
        "items": [audit.as_dict(e) for e in events],
        "total": total,
        "limit": limit,
        "offset": offset,
        "actions": list(audit.ACTIONS),
    }
