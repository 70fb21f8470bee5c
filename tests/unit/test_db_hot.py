"""How db/hot.py compiles a Core statement for a driver cursor (no database needed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import bindparam, column, table, update
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg

from synapse.db import hot
from synapse.db.models import JSONType, UTCDateTime
from synapse.jobs import attempts

DIALECT = PGDialect_psycopg()  # type: ignore[no-untyped-call]
things = table("things", column("id"), column("at", UTCDateTime()), column("data", JSONType))


def test_the_sql_uses_the_drivers_named_parameters() -> None:
    compiled = hot._compile(DIALECT, attempts._HEARTBEAT)
    assert "%(b_id)s" in compiled.sql and "%(b_attempt)s" in compiled.sql
    assert compiled.sql.startswith("UPDATE jobs SET heartbeat_at=%(b_now)s")


def test_parameters_go_through_the_column_types() -> None:
    statement = (
        update(things)
        .where(things.c.id == bindparam("b_id"))
        .values(at=bindparam("b_at", type_=UTCDateTime()), data=bindparam("b_data", JSONType))
    )
    compiled = hot._compile(DIALECT, statement)
    plus_two = datetime(2026, 12, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    values = compiled.parameters({"b_id": 7, "b_at": plus_two, "b_data": {"a": [1]}})
    assert values["b_id"] == 7
    assert values["b_at"] == datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert values["b_at"].utcoffset() == timedelta(0)
    # JSONB goes to the driver wrapped; None is the JSON null, as through SQLAlchemy.
    assert values["b_data"].obj == {"a": [1]}
    assert compiled.parameters({"b_id": 7, "b_at": None, "b_data": None})["b_data"].obj is None


def test_returned_columns_go_through_the_column_types() -> None:
    statement = (
        update(things)
        .where(things.c.id == bindparam("b_id"))
        .values(id=things.c.id)
        .returning(things.c.at, things.c.id)
    )
    compiled = hot._compile(DIALECT, statement)
    naive = datetime(2026, 12, 1, 12, 0)
    assert compiled.row((naive, 3)) == (naive.replace(tzinfo=UTC), 3)


def test_a_missing_parameter_is_named() -> None:
    compiled = hot._compile(DIALECT, attempts._HEARTBEAT)
    with pytest.raises(TypeError, match="'b_attempt'"):
        compiled.parameters({"b_id": "j", "b_now": datetime.now(UTC)})


def test_in_lists_are_refused() -> None:
    statement = update(things).where(things.c.id.in_(bindparam("b_ids", expanding=True)))
    with pytest.raises(ValueError, match="IN lists"):
        hot._compile(DIALECT, statement.values(id=1))


def test_the_claim_returns_one_row_at_most() -> None:
    assert hot.Outcome([], 0).one_or_none() is None
    assert hot.Outcome([("t", "p", 1)], 1).one_or_none() == ("t", "p", 1)
    with pytest.raises(ValueError, match="at most one row"):
        hot.Outcome([(1,), (2,)], 2).one_or_none()
