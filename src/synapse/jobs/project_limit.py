"""The fair share's limit (docs/fair-share.md): `SYNAPSE_PROJECT_CONCURRENCY`, or, unset, half the
slots of the live workers (at least 1), as each process last read them."""

from __future__ import annotations

import logging
import os
import threading
import time

import redis

from synapse.config import Settings

log = logging.getLogger("synapse.jobs")

LIMIT_CACHE_SECONDS = 5.0  # the default limit follows the live workers this closely

_limit_lock = threading.Lock()
_limit_cache: dict[tuple[int, str], tuple[float, int]] = {}


def default_limit(slots: int) -> int:
    """Half the slots of the system, at least 1."""
    return max(1, slots // 2)


def system_slots(settings: Settings) -> int:
    """The worker slots of the system: the live workers' concurrency, summed (workers.py);
    the configured concurrency of one worker when none is listed or Redis does not answer."""
    from synapse.jobs.workers import list_workers

    try:
        slots = sum(max(0, w.concurrency) for w in list_workers(settings))
    except (redis.RedisError, OSError) as exc:
        log.warning("cannot list the workers for the project limit: %s", exc)
        slots = 0
    return slots or settings.worker_concurrency


def project_limit(settings: Settings) -> int:
    """SYNAPSE_PROJECT_CONCURRENCY, or (unset or 0) half the live slots, cached a few seconds."""
    if settings.project_concurrency:
        return settings.project_concurrency
    key = (os.getpid(), settings.redis_prefix)
    now = time.monotonic()
    with _limit_lock:
        cached = _limit_cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
    limit = default_limit(system_slots(settings))
    with _limit_lock:
        _limit_cache[key] = (now + LIMIT_CACHE_SECONDS, limit)
    return limit


def forget_limit() -> None:
    """Drop the cached default limits (tests)."""
    with _limit_lock:
        _limit_cache.clear()
