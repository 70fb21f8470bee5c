"""The Celery edge of webhooks: one task that tries one delivery (on the default queue)."""

from __future__ import annotations

from celery import shared_task

from synapse.config import get_settings
from synapse.webhooks import delivery
from synapse.webhooks.service import TASK


@shared_task(name=TASK, ignore_result=True)  # type: ignore[untyped-decorator]
def deliver_webhook(delivery_id: str, attempt: int | None = None) -> str | None:
    """POST the delivery once if it is due; a failure schedules the next try (backoff).

    `attempt` (the retries' messages): the attempt the message is for; a stale one does nothing.
    """
    return delivery.deliver(get_settings(), delivery_id, attempt)
