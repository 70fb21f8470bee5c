"""What the sweep reads of the broker, on a real Redis with kombu's own messages (no worker)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis

from synapse.celery_app import create_celery
from synapse.config import Settings
from synapse.db.engine import session_scope
from synapse.db.migrate import upgrade
from synapse.db.models import utcnow
from synapse.jobs import store
from synapse.jobs.broker import delivered_ids, queue_keys, unacked_key, waiting_ids
from synapse.jobs.lost import lost_queued


@pytest.fixture
def settings(redis_url: str, tmp_path: Path) -> Iterator[Settings]:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=tmp_path / "data",
        redis_url=redis_url,
        redis_prefix=f"broker-{uuid.uuid4().hex[:8]}",
    )
    upgrade(settings)
    yield settings
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(f"{settings.redis_prefix}:*"):
        client.delete(key)


def queued_job(settings: Settings, queue: str, *, minutes_ago: float) -> str:
    job_id = str(uuid.uuid4())
    with session_scope(settings) as session:
        job = store.add_job(
            session, job_id=job_id, task_name="x.noop", params={}, queue=queue, project_key=None
        )
        job.created_at = utcnow() - timedelta(minutes=minutes_ago)
    create_celery(settings).send_task("x.noop", task_id=job_id, queue=queue)
    return job_id


def test_waiting_and_delivered_ids_read_kombus_messages(settings: Settings) -> None:
    client = redis.Redis.from_url(settings.effective_redis_url)
    jobs = [queued_job(settings, "bulk", minutes_ago=10) for _ in range(3)]
    assert waiting_ids(client, settings, "bulk", limit=100) == set(jobs)
    assert waiting_ids(client, settings, "bulk", limit=2) is None  # too long to read
    assert waiting_ids(client, settings, "urgent", limit=100) == set()

    # A worker takes one: kombu moves it to the unacked hash as [message, exchange, key].
    raw = client.rpop(queue_keys(settings, "bulk")[0])
    assert isinstance(raw, bytes)
    client.hset(unacked_key(settings), "tag-1", json.dumps([json.loads(raw), "", "bulk"]))
    waiting = waiting_ids(client, settings, "bulk", limit=100)
    assert waiting is not None and len(waiting) == 2
    assert delivered_ids(client, settings) == set(jobs) - waiting


def test_only_queued_jobs_without_a_message_are_lost(settings: Settings) -> None:
    client = redis.Redis.from_url(settings.effective_redis_url)
    old = queued_job(settings, "default", minutes_ago=10)
    young = queued_job(settings, "default", minutes_ago=0)
    assert lost_queued(settings, older_than=60) == []  # both messages are there

    client.delete(*queue_keys(settings, "default"))  # Redis lost its data
    assert [job.id for job in lost_queued(settings, older_than=60)] == [old]  # not the young one
    assert young  # sent a moment ago: its message may be on its way

    # A message a worker holds (unacked) is not lost.
    message = {"headers": {"id": old}, "properties": {"correlation_id": old}, "body": ""}
    client.hset(unacked_key(settings), "tag-9", json.dumps([message, "", "default"]))
    assert lost_queued(settings, older_than=60) == []
