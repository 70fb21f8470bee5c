"""Job states and how they read in the spec's job-status shape and the list filters."""

from __future__ import annotations

SCHEDULED = "SCHEDULED"  # waiting for its `run_at`; the beat queues it then (jobs/scheduled.py)
QUEUED = "QUEUED"
RUNNING = "RUNNING"
RETRYING = "RETRYING"
SUCCESS = "SUCCESS"
FAILURE = "FAILURE"
CANCELLED = "CANCELLED"

ALL = (SCHEDULED, QUEUED, RUNNING, RETRYING, SUCCESS, FAILURE, CANCELLED)
ACTIVE = frozenset({SCHEDULED, QUEUED, RUNNING, RETRYING})
FINISHED = frozenset({SUCCESS, FAILURE, CANCELLED})

# `GET /api/v1/jobs?state=` takes the admin page's words as well as the states themselves.
FILTERS: dict[str, tuple[str, ...]] = {
    **{state.lower(): (state,) for state in ALL},
    # The page's words come last: "running" also covers jobs waiting for an automatic retry.
    "running": (RUNNING, RETRYING),
    "queued": (QUEUED, SCHEDULED),  # the Job Queue page lists scheduled jobs under QUEUED
    "completed": (SUCCESS,),
    "failed": (FAILURE,),
    "cancelled": (CANCELLED,),
}

# The spec's job-status endpoint speaks Celery's words.
SPEC_STATUS = {
    SCHEDULED: "PENDING",
    QUEUED: "PENDING",
    RUNNING: "PROGRESS",
    RETRYING: "PROGRESS",
    SUCCESS: "SUCCESS",
    FAILURE: "FAILURE",
    CANCELLED: "CANCELLED",
}
