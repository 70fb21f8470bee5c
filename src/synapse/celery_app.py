"""The Celery application. `celery -A synapse.celery_app worker` works as in the spec."""

from __future__ import annotations

from celery import Celery, signals
from kombu.entity import Queue

from synapse.config import QUEUES, Settings, get_settings
from synapse.maintenance.schedule import beat_schedule

TASK_MODULES = [
    "synapse.jobs.tasks",
    "synapse.imports.tasks",
    "synapse.packages.tasks",
    "synapse.rules.tasks",
    "synapse.maintenance.tasks",
    "synapse.webhooks.tasks",
]


def create_celery(settings: Settings | None = None) -> Celery:
    settings = settings or get_settings()
    app = Celery(
        "synapse",
        broker=settings.celery_broker_url,
        backend=settings.celery_broker_url,
        include=TASK_MODULES + [m.strip() for m in settings.task_modules.split(",") if m.strip()],
    )
    transport = {
        # Queues are polled in the listed order (BRPOP on urgent, default, bulk), so an urgent
        # job is taken before any queued default or bulk one.
        "queue_order_strategy": "priority",
        # A message whose lease is not renewed for this long goes to another worker. Live workers
        # renew the leases of the messages they hold (jobs.worker_hooks.LeaseKeeper), so this is
        # how soon the job of a dead worker runs again, not a limit on how long a job may run.
        "visibility_timeout": settings.visibility_timeout,
        "unacked_restore_interval": settings.restore_interval,
        "unacked_restore_throttle": 1,
        # The lock a worker holds while it restores expired messages: if that worker is killed
        # holding it, nobody restores until it expires (kombu's default: 300 s).
        "unacked_mutex_expire": max(10, settings.restore_interval * 3),
        "global_keyprefix": f"{settings.redis_prefix}:",
    }
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        timezone=settings.timezone,
        enable_utc=True,
        task_track_started=True,
        task_send_sent_event=True,
        worker_send_task_events=True,
        result_expires=3600,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_concurrency=settings.worker_concurrency,
        task_queues=[Queue(name) for name in QUEUES],  # type: ignore[no-untyped-call]
        task_default_queue="default",
        broker_transport_options=transport,
        result_backend_transport_options={"global_keyprefix": f"{settings.redis_prefix}:"},
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        # Backups, the weekly report, pruning and the abandoned-job sweep, from the settings
        # (maintenance/schedule.py), sent by whichever beat holds the beat lock (beatlock.py).
        beat_schedule=beat_schedule(settings),
        beat_scheduler="synapse.maintenance.beatlock:LockedScheduler",
    )
    from synapse.jobs.worker_hooks import PausedQueues  # (also connects the worker signals)

    # Paused queues (docs/queues-and-workers.md) are not consumed from the first fetch on, and
    # again after every broker reconnect; the step also starts the worker's presence record.
    app.steps["consumer"].add(PausedQueues)
    from synapse.logs import celery_setup_logging

    # Worker, pool processes and beat log in our one format (SYNAPSE_LOG_FORMAT), not Celery's.
    signals.setup_logging.connect(celery_setup_logging, weak=False)

    return app


app = create_celery()
celery_app = app
