"""Pure parts of jobs: state mappings, the event shape, the CSV cell guard."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from synapse.api.routes.jobs import _safe_cell
from synapse.jobs import states
from synapse.jobs.events import job_event

# -- states ---------------------------------------------------------------------------------


def test_state_sets() -> None:
    assert states.ALL == (
        "SCHEDULED",
        "QUEUED",
        "RUNNING",
        "RETRYING",
        "SUCCESS",
        "FAILURE",
        "CANCELLED",
    )
    assert states.ACTIVE == {"SCHEDULED", "QUEUED", "RUNNING", "RETRYING"}
    assert states.FINISHED == {"SUCCESS", "FAILURE", "CANCELLED"}
    assert states.ACTIVE.isdisjoint(states.FINISHED)
    assert states.ACTIVE | states.FINISHED == set(states.ALL)


@pytest.mark.parametrize(
    ("word", "wanted"),
    [
        ("running", ("RUNNING", "RETRYING")),
        ("queued", ("QUEUED", "SCHEDULED")),
        ("scheduled", ("SCHEDULED",)),
        ("completed", ("SUCCESS",)),
        ("failed", ("FAILURE",)),
        ("cancelled", ("CANCELLED",)),
        ("retrying", ("RETRYING",)),
        ("success", ("SUCCESS",)),
        ("failure", ("FAILURE",)),
    ],
)
def test_filters(word: str, wanted: tuple[str, ...]) -> None:
    assert states.FILTERS[word] == wanted


def test_filters_cover_every_state_by_its_own_name() -> None:
    for state in states.ALL:
        assert state in states.FILTERS[state.lower()]


def test_filter_keys_are_lower_case_and_values_are_states() -> None:
    # The route looks up `state.lower()`.
    assert all(key == key.lower() for key in states.FILTERS)
    assert all(set(v) <= set(states.ALL) and v for v in states.FILTERS.values())
    assert "all" not in states.FILTERS  # handled by the route itself


def test_filter_keys() -> None:
    assert set(states.FILTERS) == {
        "scheduled",
        "running",
        "queued",
        "completed",
        "failed",
        "cancelled",
        "retrying",
        "success",
        "failure",
    }


def test_running_filter_includes_retrying_jobs() -> None:
    # "running" on the admin page means "being worked on", which a retrying job is.
    assert states.FILTERS["running"] == (states.RUNNING, states.RETRYING)


def test_spec_status() -> None:
    assert states.SPEC_STATUS == {
        "SCHEDULED": "PENDING",
        "QUEUED": "PENDING",
        "RUNNING": "PROGRESS",
        "RETRYING": "PROGRESS",
        "SUCCESS": "SUCCESS",
        "FAILURE": "FAILURE",
        "CANCELLED": "CANCELLED",
    }
    assert set(states.SPEC_STATUS) == set(states.ALL)


# -- job_event ------------------------------------------------------------------------------


def test_job_event_shape() -> None:
    before = datetime.now(UTC)
    event = job_event(
        job_id="3f2a",
        action_type="PROGRESS",
        message="Validated 10/20 rows...",
        state="RUNNING",
        percent=45,
        current=10,
        total=20,
    )
    after = datetime.now(UTC)
    assert list(event) == ["timestamp", "level", "message", "source", "action_type", "context"]
    assert event["level"] == "INFO"
    assert event["message"] == "[3f2a] Validated 10/20 rows..."
    assert event["source"] == "CELERY"
    assert event["action_type"] == "PROGRESS"
    assert event["context"] == {
        "task_id": "3f2a",
        "percent": 45,
        "current": 10,
        "total": 20,
        "state": "RUNNING",
        "job_type": None,
        "project_id": None,
    }
    stamp = datetime.fromisoformat(event["timestamp"])
    assert stamp.utcoffset() == timedelta(0)
    assert before <= stamp <= after


def test_job_event_defaults() -> None:
    event = job_event(job_id="j", action_type="STATE", message="m", state="QUEUED", percent=0)
    assert event["level"] == "INFO"
    assert event["context"]["current"] == 0
    assert event["context"]["total"] == 0
    assert event["context"]["percent"] == 0


def test_job_event_optional_fields_and_extra() -> None:
    event = job_event(
        job_id="abc",
        action_type="LOG",
        message="boom",
        state="FAILURE",
        percent=100,
        level="ERROR",
        job_type="import_csv_assets",
        project_id="PLANT-1",
        extra={"result": {"status": "FAILURE"}, "attempt": 2},
    )
    assert event["level"] == "ERROR"
    assert event["message"] == "[abc] boom"
    assert event["context"] == {
        "task_id": "abc",
        "percent": 100,
        "current": 0,
        "total": 0,
        "state": "FAILURE",
        "job_type": "import_csv_assets",
        "project_id": "PLANT-1",
        "result": {"status": "FAILURE"},
        "attempt": 2,
    }


def test_job_event_is_json() -> None:
    event = job_event(job_id="j", action_type="STATE", message="Ölpumpe €", state="X", percent=1)
    assert json.loads(json.dumps(event)) == event


# -- _safe_cell -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+49 123", "'+49 123"),
        ("-5", "'-5"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("=", "'="),
        ("tag is required", "tag is required"),
        ("P-1", "P-1"),
        ("a=b", "a=b"),
        (" =1", " =1"),
        ("'quoted", "'quoted"),
        ("\nx", "\nx"),
        ("", ""),
        ("Ölpumpe", "Ölpumpe"),
        (None, ""),
        (5, "5"),
        (-5, "'-5"),
    ],
)
def test_safe_cell(value: object, expected: str) -> None:
    assert _safe_cell(value) == expected
