"""Prometheus metrics of a SYNAPSE system, read when scraped.

System-wide (the same from every API process; aggregate them with `max`, not `sum`):
- `synapse_jobs{type,state}` — jobs in the database by type and state (a count query);
- `synapse_job_duration_seconds{type}` — histogram of finished jobs' run time (last attempt),
  computed in the database from `started_at` and `finished_at`;
- `synapse_queue_length{queue}` — messages waiting in each Redis queue (LLEN of
  `<redis_prefix>:<queue>` and its priority lists); `synapse_messages_unacked` — delivered, not
  yet acknowledged (held by workers);
- `synapse_queue_depth{queue}`, `synapse_queue_oldest_wait_seconds{queue}` (queue latency: the
  age of the oldest QUEUED job, 0 when none waits), `synapse_queue_running{queue}` and
  `synapse_queue_paused{queue}` (1 while paused) — from the job table and `queue_states`;
- `synapse_workers` and `synapse_worker_up{worker}` — workers that answer a ping;
  `synapse_workers_registered`, `synapse_worker_rss_bytes{worker}` and
  `synapse_worker_active_jobs{worker}` — from the worker registry in Redis (jobs/workers.py);
- `synapse_schedule_missed{entry}`, `synapse_schedule_last_run_failed{entry}` and
  `synapse_schedule_last_run_timestamp_seconds{entry}` — the beat schedule's entries (a failed
  backup is `synapse_schedule_last_run_failed{entry="daily-backup"} == 1`);
- `synapse_dependency_up{dependency}` — whether the database and Redis answered the scrape.
Per API process: `synapse_websocket_clients`, `synapse_events_relayed_total`,
`synapse_events_dropped_total` and `synapse_event_relay_connected`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry
from sqlalchemy import ColumnElement, case, func, select

from synapse.config import QUEUES, Settings
from synapse.db.engine import get_engine, session_scope
from synapse.db.models import Job
from synapse.jobs import states
from synapse.jobs.broker import PRIORITY_STEPS, queue_keys, unacked_key
from synapse.jobs.queues import queue_stats
from synapse.jobs.redis_client import get_redis
from synapse.jobs.workers import list_workers

log = logging.getLogger(__name__)

DURATION_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
PING_TIMEOUT = 0.5


class RelayCounters(Protocol):
    """What a metrics scrape reads of the API process's WebSocket relay."""

    clients: Any
    connected: Any  # an asyncio.Event, set while subscribed
    relayed: int
    dropped: int


def _duration(dialect: str) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return func.extract("epoch", Job.finished_at - Job.started_at)
    return (func.julianday(Job.finished_at) - func.julianday(Job.started_at)) * 86400.0


class SynapseCollector(Collector):
    def __init__(
        self, settings: Settings, *, ping: Callable[[], list[str]], relay: RelayCounters | None
    ) -> None:
        self.settings = settings
        self.ping = ping
        self.relay = relay

    def describe(self) -> Iterable[Metric]:
        return []  # do not query anything at registration

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "synapse_dependency_up", "Whether a dependency answered this scrape", labels=["dep"]
        )
        for name, part in (("database", self._database), ("redis", self._redis)):
            try:
                yield from part()
                up.add_metric([name], 1)
            except Exception as exc:  # a scrape still answers, saying what is down
                log.warning("metrics: %s did not answer: %s", name, exc)
                up.add_metric([name], 0)
        yield up
        for part in (self._registry, self._schedules):
            try:
                yield from part()
            except Exception as exc:
                log.warning("metrics: %s failed: %s", part.__name__, exc)
        yield from self._workers()
        if self.relay is not None:
            yield from self._relay(self.relay)

    def _database(self) -> Iterator[Metric]:
        jobs = GaugeMetricFamily(
            "synapse_jobs", "Jobs in the database by type and state", labels=["type", "state"]
        )
        hist = HistogramMetricFamily(
            "synapse_job_duration_seconds",
            "Run time of finished jobs (their last attempt), by type",
            labels=["type"],
            unit="",
        )
        dur = _duration(get_engine(self.settings).dialect.name)
        buckets = [func.sum(case((dur <= b, 1), else_=0)) for b in DURATION_BUCKETS]
        with session_scope(self.settings) as session:
            counts = session.execute(
                select(Job.type, Job.state, func.count()).group_by(Job.type, Job.state)
            ).all()
            durations = session.execute(
                select(Job.type, func.count(), func.coalesce(func.sum(dur), 0.0), *buckets)
                .where(
                    Job.state.in_(sorted(states.FINISHED)),
                    Job.started_at.is_not(None),
                    Job.finished_at.is_not(None),
                )
                .group_by(Job.type)
            ).all()
        by_type: dict[str, dict[str, int]] = {}
        for job_type, state, count in counts:
            by_type.setdefault(job_type, dict.fromkeys(states.ALL, 0))[state] = count
        for job_type, per_state in sorted(by_type.items()):
            for state, count in per_state.items():
                jobs.add_metric([job_type, state], count)
        for job_type, count, total, *cumulative in durations:
            hist.add_metric(
                [job_type],
                buckets=[
                    (str(b), float(c or 0))
                    for b, c in zip(DURATION_BUCKETS, cumulative, strict=True)
                ]
                + [("+Inf", float(count))],
                sum_value=max(0.0, float(total or 0)),
            )
        yield jobs
        yield hist
        yield from self._queues()

    def _queues(self) -> Iterator[Metric]:
        families = {
            "depth": GaugeMetricFamily(
                "synapse_queue_depth", "Jobs waiting (QUEUED) per queue", labels=["queue"]
            ),
            "oldest_wait_seconds": GaugeMetricFamily(
                "synapse_queue_oldest_wait_seconds",
                "Queue latency: how long the oldest QUEUED job of the queue has waited",
                labels=["queue"],
            ),
            "running": GaugeMetricFamily(
                "synapse_queue_running", "Jobs RUNNING per queue", labels=["queue"]
            ),
            "paused": GaugeMetricFamily(
                "synapse_queue_paused", "1 while the queue is paused", labels=["queue"]
            ),
        }
        with session_scope(self.settings) as session:
            infos = queue_stats(session)
        for info in infos:
            for field, family in families.items():
                family.add_metric([info.name], float(getattr(info, field)))
        yield from families.values()

    def _redis(self) -> Iterator[Metric]:
        lengths = GaugeMetricFamily(
            "synapse_queue_length", "Messages waiting in each queue", labels=["queue"]
        )
        client = get_redis(self.settings)
        pipe = client.pipeline(transaction=False)
        for queue in QUEUES:
            for key in queue_keys(self.settings, queue):
                pipe.llen(key)
        pipe.hlen(unacked_key(self.settings))
        replies = pipe.execute()
        steps = len(PRIORITY_STEPS)
        for i, queue in enumerate(QUEUES):
            lengths.add_metric([queue], sum(replies[i * steps : (i + 1) * steps]))
        yield lengths
        yield GaugeMetricFamily(
            "synapse_messages_unacked",
            "Messages delivered to workers and not yet acknowledged",
            value=replies[-1],
        )

    def _registry(self) -> Iterator[Metric]:
        found = list_workers(self.settings)
        yield GaugeMetricFamily(
            "synapse_workers_registered",
            "Workers whose record in Redis is fresh (they report every few seconds)",
            value=len(found),
        )
        rss = GaugeMetricFamily(
            "synapse_worker_rss_bytes",
            "Resident memory of a worker: its main process and pool processes",
            labels=["worker"],
        )
        active = GaugeMetricFamily(
            "synapse_worker_active_jobs", "Jobs a worker runs now", labels=["worker"]
        )
        for worker in found:
            rss.add_metric([worker.name], worker.rss_bytes)
            active.add_metric([worker.name], len(worker.active))
        yield rss
        yield active

    def _schedules(self) -> Iterator[Metric]:
        from synapse.maintenance.service import schedule_state

        missed = GaugeMetricFamily(
            "synapse_schedule_missed",
            "1 when a slot of the entry passed while beat was running and no run started",
            labels=["entry"],
        )
        failed = GaugeMetricFamily(
            "synapse_schedule_last_run_failed",
            "1 when the newest run of the entry ended FAILURE",
            labels=["entry"],
        )
        last = GaugeMetricFamily(
            "synapse_schedule_last_run_timestamp_seconds",
            "When the newest run of the entry started (Unix time)",
            labels=["entry"],
        )
        with session_scope(self.settings) as session:
            entries = schedule_state(self.settings, session).entries
        for entry in entries:
            missed.add_metric([entry.name], 1 if entry.missed else 0)
            run = entry.last_run
            failed.add_metric([entry.name], 1 if run and run.state == states.FAILURE else 0)
            if run is not None:
                last.add_metric([entry.name], run.at.timestamp())
        yield missed
        yield failed
        yield last

    def _workers(self) -> Iterator[Metric]:
        try:
            names = self.ping()
        except Exception as exc:
            log.warning("metrics: worker ping failed: %s", exc)
            names = []
        yield GaugeMetricFamily("synapse_workers", "Workers that answer a ping", value=len(names))
        each = GaugeMetricFamily("synapse_worker_up", "A worker that answers", labels=["worker"])
        for name in sorted(names):
            each.add_metric([name], 1)
        yield each

    @staticmethod
    def _relay(relay: RelayCounters) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "synapse_websocket_clients",
            "WebSocket clients of this API process",
            value=len(relay.clients),
        )
        yield CounterMetricFamily(
            "synapse_events_relayed",
            "Job events this API process relayed from Redis to its WebSocket clients",
            value=relay.relayed,
        )
        yield CounterMetricFamily(
            "synapse_events_dropped",
            "Events not delivered because a WebSocket client's buffer was full",
            value=relay.dropped,
        )
        yield GaugeMetricFamily(
            "synapse_event_relay_connected",
            "Whether this API process is subscribed to the job events in Redis",
            value=1 if relay.connected.is_set() else 0,
        )


def celery_ping(celery: Any) -> Callable[[], list[str]]:
    def ping() -> list[str]:
        replies = celery.control.ping(timeout=PING_TIMEOUT) or []
        return [name for reply in replies for name in reply]

    return ping


def build_registry(
    settings: Settings, *, celery: Any, relay: RelayCounters | None = None
) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SynapseCollector(settings, ping=celery_ping(celery), relay=relay))
    return registry
