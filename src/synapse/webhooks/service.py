"""Hooks and their deliveries: create, list, delete, and turn one event into deliveries.

Plain functions with keyword-only arguments; the routes, the page, the delivery task and the
triggers call them. They know no HTTP.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from synapse.config import Settings
from synapse.db.engine import session_scope
from synapse.db.models import Webhook, WebhookAttempt, WebhookDelivery, utcnow
from synapse.errors import InvalidInput, NotFound
from synapse.webhooks import guard, signing

log = logging.getLogger("synapse.webhooks")

EVENTS = ("job.succeeded", "job.failed", "job.cancelled", "schedule.missed", "backup.failed")
PING = "ping"  # the "send test" delivery; every hook gets it, whatever its events
TASK = "synapse.deliver_webhook"
QUEUE = "default"

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


# -- hooks --------------------------------------------------------------------------------------


def checked_events(events: Sequence[str]) -> list[str]:
    unknown = sorted(set(events) - set(EVENTS))
    if unknown:
        raise InvalidInput(f"unknown event(s) {', '.join(unknown)}; known: {', '.join(EVENTS)}")
    if not events:
        raise InvalidInput(f"name at least one event of {', '.join(EVENTS)}")
    return [e for e in EVENTS if e in events]


def create_hook(
    session: Session,
    settings: Settings,
    *,
    url: str,
    events: Sequence[str],
    project_key: str | None,
    by: str | None,
) -> Webhook:
    """A new hook; its URL must pass the SSRF guard now (and will again at each delivery)."""
    wanted = checked_events(events)
    guard.check(url, allow_private=settings.webhook_allow_private)
    hook = Webhook(
        url=url.strip(),
        events=wanted,
        project_key=project_key or None,
        secret=signing.new_secret(),
        created_at=utcnow(),
        created_by=by,
    )
    session.add(hook)
    session.flush()
    return hook


def list_hooks(session: Session) -> list[Webhook]:
    return list(session.scalars(select(Webhook).order_by(Webhook.id)))


def get_hook(session: Session, hook_id: int) -> Webhook:
    hook = session.get(Webhook, hook_id)
    if hook is None:
        raise NotFound(f"webhook {hook_id} not found")
    return hook


def delete_hook(session: Session, hook_id: int) -> Webhook:
    """The hook goes with its deliveries and their log (a queued delivery then does nothing)."""
    hook = get_hook(session, hook_id)
    session.delete(hook)
    return hook


def as_dict(hook: Webhook) -> dict[str, Any]:
    """What listings show: never the secret, and the URL without its credentials."""
    return {
        "id": hook.id,
        "url": guard.redacted(hook.url),
        "events": list(hook.events),
        "project_id": hook.project_key,
        "created_at": hook.created_at,
        "created_by": hook.created_by,
    }


# -- the delivery log ---------------------------------------------------------------------------


def attempts_of(
    session: Session, hook_id: int, *, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """Every attempt of the hook's deliveries, newest first, with its delivery's event and job."""
    get_hook(session, hook_id)
    total = session.scalar(
        select(func.count()).select_from(WebhookAttempt).where(WebhookAttempt.webhook_id == hook_id)
    )
    rows = session.execute(
        select(WebhookAttempt, WebhookDelivery)
        .join(WebhookDelivery, WebhookDelivery.id == WebhookAttempt.delivery_id)
        .where(WebhookAttempt.webhook_id == hook_id)
        .order_by(WebhookAttempt.at.desc(), WebhookAttempt.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    items = [
        {
            "id": a.id,
            "delivery_id": d.id,
            "event": d.event,
            "job_id": d.job_id,
            "attempt": a.attempt,
            "at": a.at,
            "status_code": a.status_code,
            "error": a.error,
            "latency_ms": a.latency_ms,
            "next_attempt_at": a.next_attempt_at,
            "ok": a.status_code is not None and 200 <= a.status_code < 300,
            "delivery_state": d.state,
        }
        for a, d in rows
    ]
    return items, int(total or 0)


def pending_of(session: Session, hook_id: int) -> int:
    """Deliveries of the hook still waiting for a 2xx."""
    query = select(func.count()).where(
        WebhookDelivery.webhook_id == hook_id, WebhookDelivery.state == PENDING
    )
    return int(session.scalar(query) or 0)


# -- events into deliveries ---------------------------------------------------------------------


def hooks_for(session: Session, event: str, project_key: str | None) -> list[Webhook]:
    """The hooks that want this event: those of its project and those of every project.

    An event without a project (a backup, a missed slot) goes only to hooks of every project.
    """
    found = []
    for hook in session.scalars(select(Webhook).order_by(Webhook.id)):
        if event != PING and event not in hook.events:
            continue
        if hook.project_key is not None and hook.project_key != project_key:
            continue
        found.append(hook)
    return found


def body_of(delivery_id: str, event: str, at: datetime, data: dict[str, Any]) -> str:
    """The JSON body, fixed when the delivery is made: every attempt sends the same bytes."""
    payload = {"id": delivery_id, "event": event, "created_at": at.isoformat(), "data": data}
    return json.dumps(payload, default=str, separators=(",", ":"), sort_keys=True)


def add_deliveries(
    session: Session,
    hooks: Sequence[Webhook],
    *,
    event: str,
    data: dict[str, Any],
    dedupe: str,
    job_id: str | None = None,
) -> list[str]:
    """One delivery row per hook (none twice for the same `dedupe` key); their ids."""
    if not hooks:
        return []
    seen = set(
        session.scalars(
            select(WebhookDelivery.webhook_id).where(
                WebhookDelivery.webhook_id.in_([h.id for h in hooks]),
                WebhookDelivery.dedupe_key == dedupe[:200],
            )
        )
    )
    now = utcnow()
    made = []
    for hook in hooks:
        if hook.id in seen:
            continue
        delivery_id = uuid.uuid4().hex
        session.add(
            WebhookDelivery(
                id=delivery_id,
                webhook_id=hook.id,
                event=event,
                job_id=job_id,
                dedupe_key=dedupe[:200],
                body=body_of(delivery_id, event, now, data),
                state=PENDING,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )
        made.append(delivery_id)
    return made


def emit(
    settings: Settings,
    *,
    event: str,
    data: dict[str, Any],
    dedupe: str,
    project_key: str | None = None,
    job_id: str | None = None,
) -> list[str]:
    """Record a delivery for every hook that wants `event`, then queue each one's first try."""
    try:
        with session_scope(settings) as session:
            hooks = hooks_for(session, event, project_key)
            made = add_deliveries(
                session, hooks, event=event, data=data, dedupe=dedupe, job_id=job_id
            )
    except IntegrityError:  # the same event recorded at the same moment elsewhere: theirs counts
        log.info("%s (%s) was already recorded for its webhooks", event, dedupe)
        return []
    for delivery_id in made:
        send(delivery_id)
    return made


def send(delivery_id: str, countdown: float = 0, attempt: int | None = None) -> bool:
    """Queue a try of the delivery. If the broker refuses, the row stays due and the sweep
    (synapse.sweep_abandoned_jobs) sends it later: the row, not the message, is the truth."""
    # The process's own app (synapse.celery_app.app, from the same settings): `current_app`
    # is per thread, and an API route's thread would get Celery's unconfigured default app.
    from synapse.celery_app import app

    try:
        app.send_task(
            TASK,
            args=[delivery_id],
            kwargs={} if attempt is None else {"attempt": attempt},
            queue=QUEUE,
            countdown=countdown if countdown > 0 else None,
        )
    except Exception as exc:
        log.warning("could not queue webhook delivery %s (the sweep will): %s", delivery_id, exc)
        return False
    return True
