"""What makes deliveries: a job's end (job.succeeded, job.failed, job.cancelled, and
backup.failed for a failed backup_database), a missed schedule slot (schedule.missed), and an
admin's "send test" (ping). Also the sweep that sends again deliveries whose message was lost.

`job_ended` is called where every end state is published (jobs.events.publish), in the worker
or the API: it only writes delivery rows and queues their tasks, and never raises.

Whether any hook exists at all is the common question (most systems have none): each process
keeps the answer with the token `<prefix>:webhooks:token` it was read under, a random value that
every change of the hooks replaces (`hooks_changed`, after the commit). `publish` reads the
token in the round trip that publishes the end event, so a job's end costs no database query
while the hooks stay as they are; an answer is also asked again after `PRESENCE_TTL` seconds
(a restored database brings hooks back without a change through the API).
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import timedelta
from typing import Any

import redis
from sqlalchemy import delete, select

from synapse.config import Settings
from synapse.db.engine import session_scope, statement_scope
from synapse.db.models import Job, Webhook, WebhookDelivery, utcnow
from synapse.jobs.redis_client import get_redis
from synapse.webhooks import service

log = logging.getLogger("synapse.webhooks")

ENDED = {"SUCCESS": "job.succeeded", "FAILURE": "job.failed", "CANCELLED": "job.cancelled"}
BACKUP_TASK = "backup_database"
RESEND_GRACE = timedelta(seconds=60)  # a due delivery untried for this long lost its message
PRESENCE_TTL = 30.0  # seconds a process trusts its "any hook?" answer under an unchanged token
_ANY_HOOK = select(Webhook.id).limit(1)
# redis prefix -> (token, monotonic time read, any hook)
_presence: dict[str, tuple[bytes, float, bool]] = {}


def token_key(settings: Settings) -> str:
    return f"{settings.redis_prefix}:webhooks:token"


def hooks_changed(settings: Settings) -> None:
    """Call after a change of the hooks is committed: every process asks the database again."""
    try:
        get_redis(settings).set(token_key(settings), uuid.uuid4().hex)
    except redis.RedisError as exc:  # answers are asked again within PRESENCE_TTL anyway
        log.warning("could not tell the workers that the webhooks changed: %s", exc)


def _any_hook(settings: Settings, token: bytes | None) -> bool:
    now = time.monotonic()
    cached = _presence.get(settings.redis_prefix)
    if token is not None and cached and cached[0] == token and now - cached[1] < PRESENCE_TTL:
        return cached[2]
    if token is None:  # no token yet (a new or flushed Redis): make one, trust it from next time
        try:
            get_redis(settings).set(token_key(settings), uuid.uuid4().hex, nx=True)
        except redis.RedisError:
            pass
    with statement_scope(settings) as conn:
        found = conn.execute(_ANY_HOOK).first() is not None
    if token is not None:
        _presence[settings.redis_prefix] = (token, now, found)
    return found


def job_ended(settings: Settings, event: dict[str, Any], token: bytes | None = None) -> None:
    """Deliveries for a job's end event (the live `STATE` event); errors are only logged.
    `token`: the hooks' token as read with the event's publication (None: unknown)."""
    try:
        context = event.get("context") or {}
        name = ENDED.get(str(context.get("state")))
        if name is None or event.get("action_type") != "STATE":
            return
        if not _any_hook(settings, token):
            return  # no hook at all: the common case
        _job_ended(settings, name, context, event)
    except Exception:  # a webhook never fails or holds up the job that triggered it
        log.exception("could not record the webhook deliveries of a job's end")


def _job_ended(
    settings: Settings, name: str, context: dict[str, Any], event: dict[str, Any]
) -> None:
    job_id = str(context.get("task_id"))
    project = context.get("project_id")
    job_type = context.get("job_type")
    backup_failed = name == "job.failed" and job_type == BACKUP_TASK
    with session_scope(settings) as session:
        job = session.get(Job, job_id)
        data = {
            "job_id": job_id,
            "job_type": job_type,
            "project_id": project,
            "state": context.get("state"),
            "message": job.message if job is not None else None,
            "error": job.error if job is not None else None,
            "attempts": job.attempts if job is not None else None,
            "finished_at": job.finished_at if job is not None else event.get("timestamp"),
            "url": f"/api/v1/jobs/{job_id}",
        }
        made = service.add_deliveries(
            session,
            service.hooks_for(session, name, project),
            event=name,
            data=data,
            dedupe=f"{name}:{job_id}",
            job_id=job_id,
        )
        if backup_failed:
            made += service.add_deliveries(
                session,
                service.hooks_for(session, "backup.failed", None),
                event="backup.failed",
                data=data,
                dedupe=f"backup.failed:{job_id}",
                job_id=job_id,
            )
    for delivery_id in made:
        service.send(delivery_id)


def test_delivery(settings: Settings, *, hook_id: int, by: str) -> str:
    """A `ping` to one hook, now (the page's "Send test" button); the delivery's id."""
    with session_scope(settings) as session:
        hook = service.get_hook(session, hook_id)
        made = service.add_deliveries(
            session,
            [hook],
            event=service.PING,
            data={"hook_id": hook.id, "by": by, "message": "A test delivery from SYNAPSE"},
            dedupe=f"ping:{uuid.uuid4().hex}",
        )
    service.send(made[0])
    return made[0]


def schedule_missed(settings: Settings) -> int:
    """schedule.missed for every entry whose latest slot was missed (once per entry and slot)."""
    from synapse.maintenance import beatlock, schedule

    with session_scope(settings) as session:
        if not service.hooks_for(session, "schedule.missed", None):
            return 0
        beat = beatlock.beat_status(settings)
        if not beat.known:
            return 0
        entries = schedule.status(settings, session, watched_since=beat.since, sent=beat.sent)
    count = 0
    for entry in entries:
        if not entry.missed or entry.missed_at is None:
            continue
        slot = entry.missed_at.isoformat()
        count += len(
            service.emit(
                settings,
                event="schedule.missed",
                data={
                    "name": entry.name,
                    "task": entry.task,
                    "schedule": entry.schedule,
                    "missed_at": slot,
                    "next_run_at": entry.next_run_at.isoformat(),
                },
                dedupe=f"schedule.missed:{entry.name}:{slot}",
            )
        )
    return count


def resend_overdue(settings: Settings, *, limit: int = 500) -> int:
    """Send again the due deliveries nobody tried: their message was lost (a broker that
    refused it, a Redis that lost it, a worker that died mid-POST)."""
    cutoff = utcnow() - RESEND_GRACE
    with session_scope(settings) as session:
        ids = list(
            session.scalars(
                select(WebhookDelivery.id)
                .where(
                    WebhookDelivery.state == service.PENDING,
                    WebhookDelivery.next_attempt_at < cutoff,
                )
                .order_by(WebhookDelivery.next_attempt_at)
                .limit(limit)
            )
        )
    for delivery_id in ids:
        service.send(delivery_id)
    return len(ids)


def prune_finished(settings: Settings) -> int:
    """Finished deliveries (and their attempts) go after SYNAPSE_JOB_RETENTION_DAYS, like jobs."""
    cutoff = utcnow() - timedelta(days=settings.job_retention_days)
    with session_scope(settings) as session:
        gone = session.execute(
            delete(WebhookDelivery).where(
                WebhookDelivery.state != service.PENDING, WebhookDelivery.finished_at < cutoff
            )
        )
        return int(gone.rowcount or 0)  # type: ignore[attr-defined]


def sweep(settings: Settings) -> None:
    """The webhooks' part of the periodic sweep (synapse.sweep_abandoned_jobs); never raises."""
    for step in (resend_overdue, schedule_missed, prune_finished):
        try:
            step(settings)
        except Exception:
            log.exception("webhook sweep step %s failed", step.__name__)
