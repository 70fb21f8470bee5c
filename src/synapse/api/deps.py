"""Dependencies as `Annotated` aliases, so route signatures stay short."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from celery import Celery
from fastapi import Depends, Path, Query, Request
from sqlalchemy.orm import Session

from synapse.api.relay import EventRelay
from synapse.config import Settings
from synapse.db.engine import session_scope


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
