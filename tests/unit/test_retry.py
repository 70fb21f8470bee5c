"""The retry policy: what is transient, and the jittered exponential backoff."""

from __future__ import annotations

import random

import pytest
import redis.exceptions
import sqlalchemy.exc

from synapse.errors import InvalidInput, TransientError
from synapse.jobs.retry import backoff, is_transient


@pytest.mark.parametrize(
    "exc",
    [
        TransientError("x"),
        sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("database is locked")),
        redis.exceptions.ConnectionError("gone"),
        redis.exceptions.TimeoutError("slow"),
        ConnectionResetError(),
        TimeoutError(),
    ],
)
def test_transient_faults(exc: BaseException) -> None:
    assert is_transient(exc)


@pytest.mark.parametrize(
    "exc",
    [
        InvalidInput("bad row"),
        ValueError("no"),
        KeyError("tag"),
        sqlalchemy.exc.IntegrityError("INSERT", {}, Exception("unique")),
        sqlalchemy.exc.ProgrammingError("SELECT", {}, Exception("syntax")),
    ],
)
def test_permanent_faults(exc: BaseException) -> None:
    assert not is_transient(exc)


def test_backoff_grows_exponentially_within_jitter_and_cap() -> None:
    rng = random.Random(7)
    for attempt, ceiling in [(1, 2.0), (2, 4.0), (3, 8.0), (4, 16.0), (5, 30.0), (9, 30.0)]:
        delays = [backoff(attempt, base=2.0, cap=30.0, rng=rng) for _ in range(200)]
        assert min(delays) >= ceiling / 2
        assert max(delays) <= ceiling
        assert len(set(delays)) > 50  # jitter spreads retries of many jobs apart
