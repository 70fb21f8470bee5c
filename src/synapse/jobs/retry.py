"""The retry policy, in one place: what is transient, and how long to wait before the next try."""

from __future__ import annotations

import random

import kombu.exceptions
import psycopg
import redis.exceptions
import sqlalchemy.exc

from synapse.errors import InvalidInput, TransientError

# Faults that go away by themselves: lost connections, timeouts, a locked SQLite database.
TRANSIENT: tuple[type[BaseException], ...] = (
    TransientError,
    sqlalchemy.exc.OperationalError,  # connection lost, server gone, "database is locked"
    sqlalchemy.exc.DisconnectionError,
    sqlalchemy.exc.TimeoutError,  # pool exhausted
    psycopg.OperationalError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.BusyLoadingError,
    kombu.exceptions.OperationalError,
    ConnectionError,
    TimeoutError,
)


def is_transient(exc: BaseException) -> bool:
    """True when trying again later may succeed. Bad input never is."""
    if isinstance(exc, InvalidInput):
        return False
    if isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, TRANSIENT)


def backoff(attempt: int, *, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Seconds before retry number `attempt` (1, 2, …): exponential with "full jitter".

    The delay is drawn between half and all of min(cap, base * 2**(attempt-1)), so retries of
    many jobs hit by the same outage spread out instead of returning together.
    """
    ceiling = min(cap, base * 2 ** max(attempt - 1, 0))
    return round((rng or random).uniform(ceiling / 2, ceiling), 3)
