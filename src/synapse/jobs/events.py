"""Live events in the spec's WebSocketLogger shape, published to Redis pub/sub."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from synapse.config import Settings
from synapse.jobs import states
from synapse.jobs.redis_client import get_redis

log = logging.getLogger(__name__)

PROGRESS = "PROGRESS"
STATE = "STATE"
LOG = "LOG"


def job_event(
    *,
    job_id: str,
    action_type: str,
    message: str,
    state: str,
    percent: int,
    current: int = 0,
    total: int = 0,
    level: str = "INFO",
    job_type: str | None = None,
    project_id: str | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One message: `{"timestamp", "level", "message", "source", "action_type", "context"}`."""
    context: dict[str, Any] = {
        "task_id": job_id,
        "percent": percent,
        "current": current,
        "total": total,
        "state": state,
        "job_type": job_type,
        "project_id": project_id,
    }
    if extra:
        context.update(extra)
    return {
        "timestamp": datetime.now(UTC).isoformat(),
        "level": level,
        "message": f"[{job_id}] {message}",
        "source": "CELERY",
        "action_type": action_type,
        "context": context,
    }


def for_job(
    job: Any,
    *,
    action_type: str,
    message: str,
    level: str = "INFO",
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An event describing a job row as it stands."""
    return job_event(
        job_id=job.id,
        action_type=action_type,
        message=message,
        state=job.state,
        percent=job.percent,
        current=job.current,
        total=job.total,
        level=level,
        job_type=job.type,
        project_id=job.project_key,
        extra=extra,
    )


def encode(event: dict[str, Any]) -> str:
    return json.dumps(event, default=str)


def publish(settings: Settings, event: dict[str, Any]) -> bool:
    """Publish one event; a lost event never fails the job (the database keeps the truth).

    A job's end (a `STATE` event with an end state) also becomes webhook deliveries: rows and
    queued tasks only, never a wait for a receiver, and never an error here (docs/webhooks.md).
    """
    ended = event["action_type"] == STATE and event["context"].get("state") in states.FINISHED
    published, token = True, None
    try:
        if ended:  # the webhooks' token comes in the same round trip (webhooks/triggers.py)
            from synapse.webhooks.triggers import token_key

            pipe = get_redis(settings).pipeline(transaction=False)
            pipe.publish(settings.events_channel, encode(event))
            pipe.get(token_key(settings))
            _count, token = pipe.execute()
        else:
            get_redis(settings).publish(settings.events_channel, encode(event))
    except Exception as exc:  # redis down: the job goes on, the page catches up from the DB
        log.warning("could not publish event for %s: %s", event["context"].get("task_id"), exc)
        published = False
    if ended:
        from synapse.webhooks.triggers import job_ended

        job_ended(settings, event, token)
    return published


def publish_log(settings: Settings, job: Any, level: str, message: str) -> bool:
    """A log line written outside a running attempt (a lost worker, the sweep), shown live."""
    return publish(settings, for_job(job, action_type=LOG, message=message, level=level))
