"""Integration fixtures: one running system (worker + API) per database, shared by the session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.scheduled import BEAT_ENV
from tests.support.services import postgres_database, redis_server
from tests.support.system import EventCollector, System, running_system


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def system(
    request: pytest.FixtureRequest, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[System]:
    base: Path = tmp_path_factory.mktemp("systems")
    if request.param == "sqlite":
        url = f"sqlite:///{base / 'sqlite' / 'synapse.db'}"
        with running_system("sqlite", database_url=url, redis_url=redis_url, base=base) as sys_:
            yield sys_
    else:
        with (
            postgres_database() as url,
            running_system("postgresql", database_url=url, redis_url=redis_url, base=base) as sys_,
        ):
            yield sys_


@pytest.fixture
def events(system: System) -> Iterator[EventCollector]:
    collector = EventCollector(system.ws_url)
    yield collector
    collector.close()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def sched_system(
    request: pytest.FixtureRequest, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[System]:
    """A system with a beat (its lock short-lived) for the scheduled-job tests, per module."""
    base: Path = tmp_path_factory.mktemp("scheduled")
    if request.param == "sqlite":
        url = f"sqlite:///{base / 'sqlite' / 'synapse.db'}"
        with running_system(
            "sched-sqlite",
            database_url=url,
            redis_url=redis_url,
            base=base,
            **BEAT_ENV,
        ) as system:
            system.spawn("beat", "beat")
            yield system
        return
    with (
        postgres_database() as url,
        running_system(
            "sched-pg", database_url=url, redis_url=redis_url, base=base, **BEAT_ENV
        ) as system,
    ):
        system.spawn("beat", "beat")
        yield system
