"""Dependencies as `Annotated` aliases, so route signatures stay short."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated

from celery import Celery
from fastapi import Depends, Path, Query, Request
from sqlalchemy.orm import Session

from synapse.api.relay import EventRelay
from synapse.config import Settings
from synapse.db.engine import session_scope
from synapse.errors import InvalidInput
from synapse.jobs.scheduled import MAX_DELAY_SECONDS, due_time


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_celery(request: Request) -> Celery:
    celery: Celery = request.app.state.celery
    return celery


def get_relay(request: Request) -> EventRelay:
    relay: EventRelay = request.app.state.relay
    return relay


def get_session(settings: Annotated[Settings, Depends(get_settings_dep)]) -> Iterator[Session]:
    with session_scope(settings) as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
CeleryDep = Annotated[Celery, Depends(get_celery)]
RelayDep = Annotated[EventRelay, Depends(get_relay)]
# scope="function": the session commits (or rolls back) when the route returns, before the
# answer is sent. With FastAPI's default it would commit after the answer, and a client that
# reads right after a 201 could miss what it just wrote (or race a second write against it).
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
# Every integer from a client fits the database's 64-bit integers: beyond them, a 422.
MAX_INT64 = 2**63 - 1
LimitQ = Annotated[int, Query(ge=1, le=1000)]
OffsetQ = Annotated[int, Query(ge=0, le=MAX_INT64)]
IdP = Annotated[int, Path(ge=1, le=MAX_INT64, description="a numeric id")]
IdQ = Annotated[int | None, Query(ge=1, le=MAX_INT64)]


def get_run_at(
    run_at: Annotated[
        str | None,
        Query(
            max_length=64,
            description="run the job later, at this time (ISO 8601 with its offset, e.g. "
            "2026-12-01T18:00:00+01:00): it is SCHEDULED until then",
        ),
    ] = None,
    delay_seconds: Annotated[
        float | None,
        Query(ge=0, le=MAX_DELAY_SECONDS, description="run the job this many seconds from now"),
    ] = None,
) -> datetime | None:
    """When a submitted job is due (None: now), from the query of any submitting POST."""
    when = None
    if run_at is not None:
        text = run_at.strip()
        if len(text) > 19 and text[-6] == " ":  # a `+01:00` offset whose `+` became a space
            text = f"{text[:-6]}+{text[-5:]}"
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            raise InvalidInput(
                f"run_at {run_at!r} is not an ISO 8601 time (e.g. 2026-12-01T18:00:00+01:00)"
            ) from None
    return due_time(run_at=when, delay_seconds=delay_seconds)


# `run_at` / `delay_seconds` of every submitting POST: the due time, or None for "queue it now".
RunAtDep = Annotated[datetime | None, Depends(get_run_at)]
