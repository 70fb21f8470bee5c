"""One synchronous Redis client per process and URL."""

from __future__ import annotations

import os
import threading

import redis

from synapse.config import Settings

_lock = threading.Lock()
_clients: dict[tuple[int, str], redis.Redis] = {}


def get_redis(settings: Settings) -> redis.Redis:
    key = (os.getpid(), settings.effective_redis_url)
    with _lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = redis.Redis.from_url(
                settings.effective_redis_url,
                socket_timeout=10,
                socket_connect_timeout=5,
                health_check_interval=30,
                retry_on_timeout=True,
            )
        return client


def cancel_key(settings: Settings, job_id: str) -> str:
    return f"{settings.redis_prefix}:cancel:{job_id}"
