"""What makes deliveries: a job's end (job.succeeded, job.failed, job.cancelled, and
backup.failed for a failed backup_database), a missed schedule slot (schedule.missed), and an
admin's "send test" (ping). Also the sweep that sends again deliveries whose message was lost.

`job_ended` is called where every end state is published (jobs.events.publish), in the worker
or the API: it only writes delivery rows and queues their tasks, and never raises.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select

from synapse.config import Settings
from synapse.db.engine import session_scope
from synapse.db.models import Job, Webhook, WebhookDelivery, utcnow
from synapse.webhooks import service

log = logging.getLogger("synapse.webhooks")

ENDED = {"SUCCESS": "job.succeeded", "FAILURE": "job.failed", "CANCELLED": "job.cancelled"}
BACKUP_TASK = "backup_database"
RESEND_GRACE = timedelta(seconds=60)  # a due delivery untried for this long lost its message


def job_ended(settings: Settings, event: dict[str, Any]) -> None:
    """Deliveries for a job's end event (the live `STATE` event); errors are only logged."""
    try:
        context = event.get("context") or {}
        name = ENDED.get(str(context.get("state")))
        if name is None or event.get("action_type") != "STATE":
            return
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
        if not session.scalar(select(Webhook.id).limit(1)):
            return  # no hook at all: the common case costs one small query
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
