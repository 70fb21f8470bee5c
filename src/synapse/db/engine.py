"""Engines and sessions, one engine per URL and process."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, exc
from sqlalchemy.orm import Session, sessionmaker

from synapse.config import Settings

SQLITE_BUSY_TIMEOUT_MS = 30_000
# A pooled server connection is pinged before use only when it sat idle longer than this: one
# used a moment ago is alive (and if the server went away meanwhile, the error is a transient
# fault that the caller retries, and the pool replaces every connection at once).
PING_AFTER_IDLE_S = 5.0

_lock = threading.Lock()
_engines: dict[tuple[int, str], Engine] = {}
# One session factory per engine: building a sessionmaker makes a Session subclass and sets up
# its events, which cost about 0.3 ms a time on every short transaction of the job layer.
_factories: dict[int, sessionmaker[Session]] = {}
# The autocommit view of each server engine (same pool), for `statement_scope`.
_autocommit: dict[int, Engine] = {}


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def build_engine(url: str) -> Engine:
    """A new engine; SQLite gets WAL, a busy timeout and foreign keys."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_engine(url, pool_size=5, max_overflow=10)
    _ping_after_idle(engine)
    return engine


def _ping_after_idle(engine: Engine) -> None:
    """Pre-ping, but only connections that sat idle in the pool for `PING_AFTER_IDLE_S`.

    `pool_pre_ping` costs a round trip at every checkout, two per job. A dead connection that
    fails its ping is replaced by the pool (`DisconnectionError`), as with `pool_pre_ping`.
    """
    dialect = engine.dialect

    def checkin(_dbapi_conn: Any, record: Any) -> None:
        if record is not None:
            record.info["idle_since"] = time.monotonic()

    def checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_S:
            return
        try:
            dialect.do_ping(dbapi_conn)
        except Exception as error:
            raise exc.DisconnectionError(f"stale pooled connection: {error}") from error

    event.listen(engine, "checkin", checkin)
    event.listen(engine, "checkout", checkout)


def get_engine(settings: Settings) -> Engine:
    """The engine of this process for the settings' database (rebuilt after a fork)."""
    key = (os.getpid(), settings.effective_database_url)
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _engines[key] = build_engine(settings.effective_database_url)
        return engine


def dispose_engines() -> None:
    with _lock:
        for engine in _engines.values():
            engine.dispose(close=False)
        _engines.clear()
        _factories.clear()
        _autocommit.clear()


@contextmanager
def session_scope(settings: Settings) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    engine = get_engine(settings)
    factory = _factories.get(id(engine))
    if factory is None or factory.kw["bind"] is not engine:
        factory = _factories[id(engine)] = sessionmaker(engine, expire_on_commit=False)
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def statement_scope(settings: Settings) -> Iterator[Connection]:
    """A connection for one statement that is a transaction by itself (the job layer's hot path).

    On PostgreSQL the statement runs in autocommit: a single UPDATE is atomic on its own, and
    BEGIN and COMMIT would be two more round trips. On SQLite (no round trips) it runs in a
    transaction as usual. Use `session_scope` for anything of more than one statement.
    """
    engine = get_engine(settings)
    if engine.dialect.name == "sqlite":
        with engine.begin() as conn:
            yield conn
        return
    auto = _autocommit.get(id(engine))
    if auto is None or auto.pool is not engine.pool:
        auto = _autocommit[id(engine)] = engine.execution_options(isolation_level="AUTOCOMMIT")
    with auto.connect() as conn:
        yield conn
