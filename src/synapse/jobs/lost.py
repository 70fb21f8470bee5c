"""QUEUED jobs whose message is gone: Redis lost it (restarted without its append-only file,
flushed, or a key evicted by a misconfigured `maxmemory-policy`).

A job is QUEUED in the database from the moment its message is sent until a worker claims it. If
the message is in neither its queue's lists nor the hash of delivered messages, no worker will
ever see it, and the job would wait for ever. The sweep sends such jobs again. It reads a queue's
messages only while the queue is short (`SCAN_LIMIT`): a longer queue is left for a later sweep,
so a lost message is noticed at the latest once its queue has drained that far. A job sent again
by mistake (its message was being handed to a worker at the very moment of the look) is
harmless: the claim runs a job once, and drops the second delivery as a duplicate.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import and_, or_, select

from synapse.config import Settings
from synapse.db.engine import session_scope
from synapse.db.models import Job, QueueState, utcnow
from synapse.jobs import fairshare, states
from synapse.jobs.broker import delivered_ids, waiting_ids
from synapse.jobs.redis_client import get_redis

SCAN_LIMIT = 5_000  # messages read from one queue at the most (a few MB)


def lost_queued(settings: Settings, *, older_than: float, limit: int = 100) -> Sequence[Job]:
    """QUEUED jobs older than `older_than` seconds whose message Redis no longer holds (those
    of a paused queue left out), and RETRYING ones that fair share sent again."""
    cutoff = utcnow() - timedelta(seconds=older_than)
    with session_scope(settings) as session:
        query = (
            select(Job)
            .where(
                or_(
                    Job.state == states.QUEUED,
                    and_(
                        Job.state == states.RETRYING,
                        Job.message.startswith(fairshare.SENT_PREFIX, autoescape=True),
                    ),
                ),
                Job.created_at < cutoff,
            )
            # A job waiting for its project's share has no message on purpose: fair share's
            # release sends it (jobs/fairshare.py), not this sweep.
            .where(~Job.message.startswith(fairshare.WAITING_PREFIX, autoescape=True))
            # A paused queue's jobs wait on purpose (some held by the start gate, their message
            # taken): the resume sends those (jobs/queues.py), not this sweep.
            .where(Job.queue.not_in(select(QueueState.name).where(QueueState.paused.is_(True))))
            .order_by(Job.created_at)
            .limit(limit)
        )
        candidates = session.scalars(query).all()
    if not candidates:
        return []
    client = get_redis(settings)
    present: set[str] = set()
    readable: set[str] = set()
    for queue in sorted({job.queue for job in candidates}):
        ids = waiting_ids(client, settings, queue, limit=SCAN_LIMIT)
        if ids is not None:
            present |= ids
            readable.add(queue)
    # Read after the lists: a message taken from a list meanwhile is found here.
    present |= delivered_ids(client, settings)
    return [job for job in candidates if job.queue in readable and job.id not in present]
