"""What the broker (kombu's Redis transport) holds: queue lists and delivered-not-acked messages.

Read-only helpers for the metrics and the sweep. kombu keeps each queue as Redis lists, one per
priority step (`<prefix>:<queue>`, `<prefix>:<queue>\\x06\\x163`, …), each message a JSON
document whose `headers.id` is the task id (the job id); a message delivered to a worker and not
yet acknowledged sits in the hash `<prefix>:unacked` as `[message, exchange, routing_key]`.
"""

from __future__ import annotations

import json

import redis

from synapse.config import Settings

PRIORITY_STEPS = (0, 3, 6, 9)  # kombu's Redis transport keeps one list per step and queue
PRIORITY_SEP = "\x06\x16"


def queue_keys(settings: Settings, queue: str) -> list[str]:
    """The Redis lists of one queue, with the global key prefix kombu puts on them."""
    base = f"{settings.redis_prefix}:{queue}"
    return [base if step == 0 else f"{base}{PRIORITY_SEP}{step}" for step in PRIORITY_STEPS]


def unacked_key(settings: Settings) -> str:
    return f"{settings.redis_prefix}:unacked"


def message_id(raw: bytes | str) -> str | None:
    """The task id of a queued message (None for anything that is not one of ours)."""
    try:
        message = json.loads(raw)
        headers = message.get("headers") or {}
        found = headers.get("id") or (message.get("properties") or {}).get("correlation_id")
    except (ValueError, AttributeError):
        return None
    return found if isinstance(found, str) else None


def unacked_message_id(raw: bytes | str) -> str | None:
    """The task id of an entry of the unacked hash (`[message, exchange, routing_key]`)."""
    try:
        entry = json.loads(raw)
        message = entry[0] if isinstance(entry, list) and entry else None
    except ValueError:
        return None
    return message_id(json.dumps(message)) if isinstance(message, dict) else None


def waiting_ids(
    client: redis.Redis, settings: Settings, queue: str, *, limit: int
) -> set[str] | None:
    """The task ids waiting in a queue, or None when it holds more than `limit` messages
    (reading them all would cost more than it is worth)."""
    keys = queue_keys(settings, queue)
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.llen(key)
    if sum(pipe.execute()) > limit:
        return None
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.lrange(key, 0, -1)
    return {found for raws in pipe.execute() for raw in raws if (found := message_id(raw))}


def delivered_ids(client: redis.Redis, settings: Settings) -> set[str]:
    """The task ids delivered to workers and not yet acknowledged (few: workers × prefetch)."""
    raws = client.hvals(unacked_key(settings))
    return {found for raw in raws if (found := unacked_message_id(raw))}
