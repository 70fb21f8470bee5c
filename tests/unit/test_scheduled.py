"""When a job asked for `run_at` / `delay_seconds` is due: pure checks of the submit's input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from synapse.errors import InvalidInput
from synapse.jobs.scheduled import MAX_DELAY_SECONDS, due_time, scheduled_message

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_neither_means_now() -> None:
    assert due_time(run_at=None, delay_seconds=None, now=NOW) is None


def test_delay_seconds_counts_from_now() -> None:
    assert due_time(run_at=None, delay_seconds=90, now=NOW) == NOW + timedelta(seconds=90)
    assert due_time(run_at=None, delay_seconds=0, now=NOW) is None


def test_run_at_keeps_its_offset_and_a_past_time_is_now() -> None:
    paris = timezone(timedelta(hours=1))
    at = datetime(2026, 12, 1, 18, 0, tzinfo=paris)
    assert due_time(run_at=at, delay_seconds=None, now=NOW) == at
    assert due_time(run_at=NOW - timedelta(seconds=1), delay_seconds=None, now=NOW) is None


@pytest.mark.parametrize(
    ("run_at", "delay", "words"),
    [
        (datetime(2026, 12, 1, 18, 0), None, "offset"),
        (NOW + timedelta(days=400), None, "366 days"),
        (None, -1, "delay_seconds"),
        (None, MAX_DELAY_SECONDS + 1, "delay_seconds"),
        (NOW + timedelta(hours=1), 5, "not both"),
    ],
)
def test_refused(run_at: datetime | None, delay: float | None, words: str) -> None:
    with pytest.raises(InvalidInput, match=words):
        due_time(run_at=run_at, delay_seconds=delay, now=NOW)


def test_message_names_the_time() -> None:
    assert scheduled_message(NOW) == "Scheduled for 2026-12-01T12:00:00+00:00"
