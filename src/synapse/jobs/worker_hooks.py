"""Worker process hooks: message leases and the worker's presence in the main process (with
the fair-share sweep), paused queues at every start of the consumer, fresh connections in the
children."""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import UTC, datetime
from typing import Any

from celery import bootsteps, signals
from celery.worker import state

from synapse.config import get_settings
from synapse.db import hot
from synapse.db.engine import dispose_engines, session_scope
from synapse.jobs import fairshare, queues, workers
from synapse.jobs.redis_client import get_redis

log = logging.getLogger("synapse.worker")


class LeaseKeeper(threading.Thread):
    """Renews the Redis lease of every message this worker holds, every heartbeat.

    Kombu's Redis transport hands an unacknowledged message to another worker once it has been
    held longer than the visibility timeout. Renewing the lease of the messages a live worker
    holds lets that timeout be short (minutes), so a job whose whole worker died (SIGKILL, lost
    machine) is delivered again within minutes, while a job that runs for hours is never handed
    out twice.
    """

    def __init__(self) -> None:
        super().__init__(name="synapse-lease-keeper", daemon=True)
        self.settings = get_settings()
        self.key = f"{self.settings.redis_prefix}:unacked_index"
        self.stop = threading.Event()

    @staticmethod
    def held_tags() -> list[str]:
        for _ in range(5):
            try:
                requests = list(state.active_requests) + list(state.reserved_requests)
            except RuntimeError:  # changed while copied
                continue
            return [str(r.message.delivery_tag) for r in requests if r.message is not None]
        return []

    def run(self) -> None:
        client = get_redis(self.settings)
        while not self.stop.wait(self.settings.heartbeat_interval):
            tags = self.held_tags()
            if not tags:
                continue
            try:
                client.zadd(self.key, dict.fromkeys(tags, time.time()), xx=True)
            except Exception as exc:  # Redis is away; the lease is renewed when it is back
                log.warning("could not renew message leases: %s", exc)


_keeper: LeaseKeeper | None = None


def _start_lease_keeper(**_: Any) -> None:
    global _keeper
    if _keeper is None:
        _keeper = LeaseKeeper()
        _keeper.start()


def _stop_lease_keeper(**_: Any) -> None:
    if _keeper is not None:
        _keeper.stop.set()


def _fresh_connections(**_: Any) -> None:
    """A forked pool process must not share the parent's database connections; it keeps one
    of its own for the job layer's statements (db/hot.py)."""
    dispose_engines()
    hot.reset()
    hot.enable()


def _paused_now() -> set[str]:
    with session_scope(get_settings()) as session:
        return queues.paused_queues(session)


class Presence(threading.Thread):
    """Every few seconds: publish this worker's record (workers.py) and follow the paused
    queues from the database, in case a pause or resume broadcast was missed (the worker was
    reconnecting to the broker at that moment, say); every `fairshare.SWEEP_SECONDS`, send
    again the jobs waiting for a project's share that a freed slot did not (a lost worker)."""

    def __init__(self, consumer: Any, configured: list[str]) -> None:
        super().__init__(name="synapse-presence", daemon=True)
        self.settings = get_settings()
        self.consumer = consumer
        self.name_ = str(consumer.hostname)
        self.configured = configured
        self.started_at = datetime.now(UTC)
        self.stop = threading.Event()
        self.next_sweep = time.monotonic() + fairshare.SWEEP_SECONDS

    def consuming(self) -> list[str]:
        return workers.ordered(list(self.consumer.app.amqp.queues.consume_from))

    def record(self) -> workers.WorkerInfo:
        pool = getattr(self.consumer, "pool", None)
        concurrency = (
            getattr(pool, "num_processes", None) or self.consumer.app.conf.worker_concurrency
        )
        try:
            active = sorted(str(r.id) for r in list(state.active_requests))
        except RuntimeError:  # changed while copied: the next beat has it
            active = []
        return workers.WorkerInfo(
            name=self.name_,
            hostname=workers.host_of(self.name_),
            pid=os.getpid(),
            concurrency=int(concurrency),
            queues=self.consuming(),
            configured_queues=self.configured,
            active=active,
            rss_bytes=workers.resident_bytes(),
            last_seen=datetime.now(UTC),
            started_at=self.started_at,
        )

    def follow_pauses(self) -> None:
        paused = _paused_now()
        consuming = set(self.consuming())
        control = self.consumer.app.control
        for queue in self.configured:
            if queue in paused and queue in consuming:
                control.cancel_consumer(queue, destination=[self.name_], reply=False)
            elif queue not in paused and queue not in consuming:
                control.add_consumer(queue, destination=[self.name_], reply=False)

    def beat(self) -> None:
        try:
            self.follow_pauses()
        except Exception as exc:  # the database or Redis is away: the start gate still holds
            log.warning("could not read the paused queues: %s", exc)
        try:
            workers.publish(self.settings, self.record())
        except Exception as exc:
            log.warning("could not publish this worker's record: %s", exc)
        if time.monotonic() >= self.next_sweep:
            self.next_sweep = time.monotonic() + fairshare.SWEEP_SECONDS
            self.sweep_fair_share()

    def sweep_fair_share(self) -> None:
        try:
            sent = fairshare.sweep(self.settings, self.consumer.app)
        except Exception as exc:  # the database or Redis is away: the next sweep catches up
            log.warning("could not sweep the jobs waiting for their project's share: %s", exc)
            return
        if sent:
            log.info("fair share: sent %d waiting job(s) again", sent)

    def run(self) -> None:
        self.beat()
        while not self.stop.wait(workers.publish_interval(self.settings)):
            self.beat()

    def leave(self) -> None:
        self.stop.set()
        try:
            workers.remove(self.settings, self.name_)
        except Exception as exc:
            log.warning("could not remove this worker's record: %s", exc)


_presence: Presence | None = None
_configured: list[str] | None = None


class PausedQueues(bootsteps.StartStopStep):  # type: ignore[misc]
    """A consumer step: at every start of the consumer (worker start, broker reconnect), after
    the task consumer exists and before the first message is fetched, stop consuming the
    queues that are paused in the database (and consume again those resumed meanwhile)."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def start(self, c: Any) -> None:
        global _configured, _presence
        if _configured is None:
            _configured = workers.ordered(list(c.app.amqp.queues.consume_from))
        try:
            paused = _paused_now()
        except Exception as exc:  # the start gate still holds every paused queue
            log.warning("could not read the paused queues at start: %s", exc)
            paused = set()
        consuming = set(c.app.amqp.queues.consume_from)
        for queue in _configured:
            if queue in paused and queue in consuming:
                log.info("queue %s is paused: not consuming it", queue)
                c.cancel_task_queue(queue)
            elif queue not in paused and queue not in consuming:
                c.add_task_queue(queue)
        if _presence is None:
            _presence = Presence(c, _configured)
            _presence.start()


def _leave(**_: Any) -> None:
    if _presence is not None:
        _presence.leave()


signals.worker_ready.connect(_start_lease_keeper, weak=False)
signals.worker_shutdown.connect(_stop_lease_keeper, weak=False)
signals.worker_shutdown.connect(_leave, weak=False)
signals.worker_process_init.connect(_fresh_connections, weak=False)
