"""Worker process hooks: message leases in the main process, fresh connections in the children."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from celery import signals
from celery.worker import state

from synapse.config import get_settings
from synapse.db.engine import dispose_engines
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
    """A forked pool process must not share the parent's database connections."""
    dispose_engines()


signals.worker_ready.connect(_start_lease_keeper, weak=False)
signals.worker_shutdown.connect(_stop_lease_keeper, weak=False)
signals.worker_process_init.connect(_fresh_connections, weak=False)
