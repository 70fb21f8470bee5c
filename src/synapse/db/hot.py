"""The job layer's one-statement transactions, with as little work per call as we can.

Every delivery of a job runs two statements (its claim and its end state), and a running job a
few more (heartbeat, progress). Each is one UPDATE that is a transaction by itself. Through
SQLAlchemy's `Connection` such a statement costs the worker process about 240 µs of CPU besides
the driver's own work (pool checkout and return with their events, the autocommit switch, the
execution context, the result object), two thirds of the job layer's CPU for a no-op job
(docs/benchmarks.md).

So in a worker's pool process on PostgreSQL (`enable()`, called at `worker_process_init`) each
statement runs on one autocommit connection that the process keeps, taken from the engine's
pool: the statement is the same SQLAlchemy Core construct, compiled once per process for the
dialect, its parameters converted by the column types' own bind processors, and it runs
straight on the psycopg cursor (which prepares it on the server after a few runs). Everywhere
else (SQLite, which has no round trips to save; the API; the beat; a process that did not ask)
it runs through `statement_scope`, as before.

What does not change: each statement is still its own transaction, committed synchronously
before the call returns (the same durability as before), and a lost connection still raises
`psycopg.OperationalError`, a transient fault (jobs/retry.py). A connection that failed in any
way is dropped and the next call takes a fresh one; one idle for `PING_AFTER_IDLE_S` is pinged
first, as the pool does.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine import Dialect
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.sql.dml import UpdateBase

from synapse.config import Settings
from synapse.db.engine import PING_AFTER_IDLE_S, get_engine, statement_scope

Processor = Callable[[Any], Any]


@dataclass(frozen=True)
class Outcome:
    """What a statement gave: the rows it returned (RETURNING) and how many rows it changed."""

    rows: Sequence[tuple[Any, ...]]
    rowcount: int

    def one_or_none(self) -> tuple[Any, ...] | None:
        if len(self.rows) > 1:
            raise ValueError(f"expected at most one row, got {len(self.rows)}")
        return self.rows[0] if self.rows else None


@dataclass(frozen=True)
class _Compiled:
    sql: str
    # (name in the SQL, key the caller passes, default value, bind processor)
    binds: tuple[tuple[str, str, Any, Processor | None], ...]
    results: tuple[Processor | None, ...]

    def parameters(self, params: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, key, default, process in self.binds:
            value = params.get(key, default)
            if value is _REQUIRED:
                raise TypeError(f"a value is required for the parameter {key!r}")
            # None too, as SQLAlchemy does: a JSON column's None is the JSON null, for one.
            out[name] = value if process is None else process(value)
        return out

    def row(self, raw: Sequence[Any]) -> tuple[Any, ...]:
        return tuple(
            value if process is None else process(value)
            for value, process in zip(raw, self.results, strict=True)
        )


_REQUIRED = object()


def _compile(dialect: Dialect, statement: UpdateBase) -> _Compiled:
    compiled = statement.compile(dialect=dialect)
    binds = []
    for bind, name in compiled.bind_names.items():
        if bind.expanding:
            raise ValueError(f"{name}: a one-statement transaction here takes no IN lists")
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        default = _REQUIRED if bind.required else bind.value
        binds.append((name, bind.key, default, process))
    results = tuple(
        column.type.dialect_impl(dialect).result_processor(dialect, None)
        for column in statement.exported_columns
    )
    return _Compiled(str(compiled), tuple(binds), results)


class _Held:
    """The one connection a process keeps for these statements, and its compiled statements."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.raw: PoolProxiedConnection | None = None
        self.used_at = 0.0
        self.compiled: dict[int, tuple[UpdateBase, _Compiled]] = {}

    def statement(self, statement: UpdateBase) -> _Compiled:
        known = self.compiled.get(id(statement))
        if known is None or known[0] is not statement:
            known = self.compiled[id(statement)] = (
                statement,
                _compile(self.engine.dialect, statement),
            )
        return known[1]

    def connection(self) -> Any:
        """The driver connection, in autocommit; a fresh one if it sat idle and is gone."""
        if self.raw is not None and time.monotonic() - self.used_at > PING_AFTER_IDLE_S:
            try:
                dbapi = self.raw.dbapi_connection
                if dbapi is None or not self.engine.dialect.do_ping(dbapi):
                    self.drop()
            except Exception:
                self.drop()
        if self.raw is None:
            raw = self.engine.raw_connection()
            try:
                raw.dbapi_connection.autocommit = True  # type: ignore[union-attr]
            except BaseException:
                raw.invalidate()
                raise
            self.raw = raw
        return self.raw.dbapi_connection

    def drop(self) -> None:
        raw, self.raw = self.raw, None
        if raw is not None:
            try:
                raw.invalidate()  # closed, and never handed out again by the pool
            except Exception:  # it is gone either way
                pass

    def run(self, statement: UpdateBase, params: Mapping[str, Any]) -> Outcome:
        compiled = self.statement(statement)
        values = compiled.parameters(params)
        with self.lock:
            try:
                cursor = self.connection().cursor()
                try:
                    cursor.execute(compiled.sql, values)
                    rows = cursor.fetchall() if cursor.description else []
                    count = cursor.rowcount
                finally:
                    cursor.close()
            except BaseException:
                # Lost, timed out, interrupted mid-statement: whatever state the connection is
                # in, it is not used again.
                self.drop()
                raise
            self.used_at = time.monotonic()
        return Outcome([compiled.row(row) for row in rows], count)


_lock = threading.Lock()
_enabled_pid: int | None = None
_held: dict[int, _Held] = {}  # id(engine) -> its held connection, in this process
# Connections held by the process this one was forked from: never used, closed or collected
# here (closing, or a pool's clean-up at collection, would end the parent's session).
_inherited: list[_Held] = []


def enable() -> None:
    """Run the statements on a kept connection in this process (a worker's pool process)."""
    global _enabled_pid
    with _lock:
        _enabled_pid = os.getpid()


def reset() -> None:
    """Back to `statement_scope` for every statement, and close this process's kept
    connections (a forked process leaves its parent's alone)."""
    global _enabled_pid
    with _lock:
        pid = os.getpid()
        for held in _held.values():
            if held.pid == pid:
                with held.lock:
                    held.drop()
            else:
                _inherited.append(held)
        _held.clear()
        _enabled_pid = None


def _hold(engine: Engine) -> _Held:
    with _lock:
        held = _held.get(id(engine))
        if held is not None and held.engine is engine:
            return held
        if held is not None and held.pid != os.getpid():
            _inherited.append(held)
        elif held is not None:  # an engine since disposed, whose id was reused
            with held.lock:
                held.drop()
        held = _held[id(engine)] = _Held(engine)
        return held


def run(settings: Settings, statement: UpdateBase, params: Mapping[str, Any]) -> Outcome:
    """Run one statement as a transaction of its own."""
    engine = get_engine(settings)
    if _enabled_pid == os.getpid() and engine.dialect.name != "sqlite":
        held = _held.get(id(engine))
        if held is None or held.engine is not engine:
            held = _hold(engine)
        return held.run(statement, params)
    with statement_scope(settings) as conn:
        result = conn.execute(statement, params)
        rows = [tuple(row) for row in result] if result.returns_rows else []
        return Outcome(rows, result.rowcount)
