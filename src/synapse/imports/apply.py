"""Comparing staged rows with the project's assets, recording the ledger, writing what changed.

In one transaction (SQLite's write lock; on PostgreSQL the import's transaction, which holds
the project's advisory lock since it began, and for an applied import the project's rule-run
lock from here to the commit, so no rule run writes between this comparison and the commit):

1. `created`: staged tags the project does not have. An applied import records them CHUNK to
   a ledger row as `[[row, tag], ...]` (their values are the assets' own; `imports.created`
   reads them back); a preview one row each with their values.
2. `unchanged`: same type and the same properties (SQLite: the same JSON text; PostgreSQL: the
   stored properties with the file's columns replaced are equal to the stored ones) — in SQL,
   CHUNK to a ledger row.
3. The rest are compared in Python, field by field: `updated` with old → new for each changed
   field, or `unchanged` when only the JSON text differed (key order, other properties).
4. For the commit of a preview: what this import would do is compared with the preview's
   ledger (`imports.preview_check`); any asset whose action or changes differ was changed in
   between, and nothing is written.
5. Unless previewing: created assets inserted, updated ones rewritten; unchanged ones are not
   written at all. Last, an applied import's `source` row: the file's fingerprint and counts,
   which `imports.identical` compares the next import of the project with.

An import sets the type and the properties of the columns it has (an empty cell removes that
property); properties of columns the file does not have, or ignores, are kept — but for those
the project's rules derive (`set`), which an updated asset loses for its rules stage to derive
them again (`ledger.diff_asset`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from synapse.db.models import utcnow
from synapse.imports.chunks import CHUNK
from synapse.imports.ledger import diff_asset
from synapse.imports.preview_check import check_against_preview
from synapse.imports.writer import Stager
from synapse.rules.store import LOCK_SPACE as RULES_LOCK

BATCH = 5_000
UNCHANGED_CHUNK = CHUNK  # unchanged (and an applied import's created) assets per ledger row

LEDGER = "asset_changes (job_id, project_id, tag, row, action, changes, applied, at)"


@dataclass
class Applied:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    conflicts: list[dict[str, Any]] = field(default_factory=list)


Check = Callable[[], None]


def _sql(stager: Stager, text: str) -> str:
    """`:p` is the driver's placeholder; `{stage}` the staging table."""
    return text.replace(":p", stager.param).replace("{stage}", stager.table)


def _rows(cursor: Any) -> Iterable[Sequence[Any]]:
    while batch := cursor.fetchmany(BATCH):
        yield from batch


class _Dialect:
    """The few statements that differ between SQLite and PostgreSQL."""

    def __init__(self, stager: Stager) -> None:
        self.stager = stager
        self.postgres = stager.dialect == "postgresql"
        now = utcnow()
        # SQLite keeps naive UTC text in SQLAlchemy's format; PostgreSQL takes the datetime.
        self.stamp: Any = now if self.postgres else now.strftime("%Y-%m-%d %H:%M:%S.%f")

    def run(self, text: str, params: Sequence[Any] = ()) -> Any:
        return self.stager.conn.execute(_sql(self.stager, text), tuple(params))

    def many(self, text: str, rows: Sequence[Sequence[Any]]) -> None:
        if self.postgres:
            with self.stager.conn.cursor() as cursor:
                cursor.executemany(_sql(self.stager, text), rows)
        else:
            self.stager.conn.executemany(_sql(self.stager, text), rows)

    @property
    def pairs(self) -> str:
        """The aggregate of a group of staged rows as `[[row, tag], ...]`."""
        if self.postgres:
            return "jsonb_agg(jsonb_build_array(s.row_no, s.tag) ORDER BY s.row_no)"
        return "json_group_array(json_array(s.row_no, s.tag))"

    @property
    def snapshot(self) -> str:
        if self.postgres:
            return "jsonb_build_object('type', s.type, 'properties', s.properties)"
        return "json_object('type', s.type, 'properties', json(s.properties))"

    def same(self, columns: Sequence[str]) -> tuple[str, list[Any]]:
        """The SQL condition of an unchanged asset `a` for staged row `s`."""
        if self.postgres:
            return (
                "a.type = s.type AND (a.properties - :p::text[]) || s.properties = a.properties",
                [list(columns)],
            )
        return "a.type = s.type AND a.properties = s.properties", []

    def open_candidates(self, condition: str, params: list[Any]) -> Any:
        text = _sql(
            self.stager,
            "SELECT s.row_no, s.tag, s.type, s.properties, a.id, a.type, a.properties"
            " FROM {stage} s JOIN assets a ON a.project_id = :p AND a.tag = s.tag"
            f" WHERE NOT ({condition}) ORDER BY s.row_no",
        )
        if self.postgres:  # a server-side cursor: the rows come in batches, not all at once
            cursor = self.stager.conn.cursor(name=f"cand_{self.stager.table}")
            cursor.execute(text, (self.stager.project_id, *params))
            return cursor
        return self.stager.conn.execute(text, (self.stager.project_id, *params))

    def create_updates_table(self) -> str:
        name = f"upd_{self.stager.table}"
        props = "jsonb" if self.postgres else "TEXT"
        suffix = " ON COMMIT DROP" if self.postgres else ""
        self.run(
            f"CREATE TEMP TABLE {name} (id bigint, row_no bigint, tag text, type text,"
            f" properties {props}, changes {props}){suffix}"
        )
        return name

    def add_updates(self, table: str, rows: list[tuple[Any, ...]]) -> None:
        if self.postgres:
            with (
                self.stager.conn.cursor() as cursor,
                cursor.copy(
                    f"COPY {table} (id, row_no, tag, type, properties, changes) FROM STDIN"
                ) as copy,
            ):
                for row in rows:
                    copy.write_row(row)
            return
        self.many(f"INSERT INTO {table} VALUES (?, ?, ?, ?, ?, ?)", rows)

    def update_assets(self, table: str) -> None:
        self.run(
            f"UPDATE assets SET type = u.type, properties = u.properties, updated_at = :p"
            f" FROM {table} u WHERE assets.id = u.id",
            (self.stamp,),
        )

    def drop(self, table: str) -> None:
        if not self.postgres:
            self.run(f"DROP TABLE IF EXISTS temp.{table}")


def apply_import(
    stager: Stager,
    *,
    job_id: str,
    columns: Sequence[str],
    derived: Sequence[str] = (),
    preview: bool,
    insert_only: bool,
    skipped: Sequence[tuple[int, str]],
    commit_of: str | None,
    checkpoint: Check,
    committed: Check,
    source: Mapping[str, Any] | None = None,
) -> Applied:
    """Compare, record and (unless `preview`) write, in one transaction; see the module text.

    `checkpoint` may cancel (it writes nothing) until the commit; `committed` runs right after
    it, before anything else can raise: from there on the import has happened. `source` (an
    applied import's file fingerprint, `imports.identical`) goes to the ledger's last row.
    """
    sql = _Dialect(stager)
    done = Applied(skipped=len(skipped))
    project = stager.project_id
    applied = not preview
    ledger_head = (job_id, project)
    stager.begin()
    if applied and sql.postgres:
        sql.run("SELECT pg_advisory_xact_lock(:p, :p)", (RULES_LOCK, project))
    not_there = "NOT EXISTS (SELECT 1 FROM assets a WHERE a.project_id = :p AND a.tag = s.tag)"
    if applied:
        # The values are the assets' own: a thousand created assets to a ledger row.
        cur = sql.run(
            f"INSERT INTO {LEDGER} SELECT :p, :p, '', min(s.row_no), 'created', {sql.pairs},"
            f" :p, :p FROM {{stage}} s WHERE {not_there} GROUP BY s.row_no / {CHUNK}",
            (*ledger_head, applied, sql.stamp, project),
        )
        any_created = cur.rowcount != 0  # chunks, or -1: not known
    else:
        cur = sql.run(
            f"INSERT INTO {LEDGER} SELECT :p, :p, s.tag, s.row_no, 'created', {sql.snapshot},"
            f" :p, :p FROM {{stage}} s WHERE {not_there}",
            (*ledger_head, applied, sql.stamp, project),
        )
        done.created = max(cur.rowcount, 0)
        any_created = False
    checkpoint()
    updates = None
    if not insert_only:
        same, same_params = sql.same(columns)
        # Unchanged assets are many and say little: one ledger row per UNCHANGED_CHUNK of them.
        sql.run(
            f"INSERT INTO {LEDGER} SELECT :p, :p, '', min(s.row_no), 'unchanged',"
            f" {sql.pairs}, :p, :p"
            " FROM {stage} s JOIN assets a ON a.project_id = :p AND a.tag = s.tag"
            f" WHERE {same} GROUP BY s.row_no / {UNCHANGED_CHUNK}",
            (*ledger_head, applied, sql.stamp, project, *same_params),
        )
        checkpoint()
        updates = _compare(
            sql, same, same_params, columns, frozenset(derived), done, ledger_head, applied
        )
        checkpoint()
    if skipped:
        _record_skipped(sql, skipped, ledger_head, applied)
    if commit_of is not None:
        check_against_preview(sql, preview_id=commit_of, updates=updates, done=done)
    if applied and any_created:
        cur = sql.run(
            "INSERT INTO assets (project_id, tag, type, properties, created_at, updated_at)"
            f" SELECT :p, s.tag, s.type, s.properties, :p, :p FROM {{stage}} s WHERE {not_there}",
            (project, sql.stamp, sql.stamp, project),
        )
        done.created = max(cur.rowcount, 0)
    if not insert_only:
        done.unchanged = stager.staged - done.created - done.updated
    if applied and updates is not None and done.updated:
        sql.update_assets(updates)
    if applied and source is not None:
        counts = {"created": done.created, "updated": done.updated, "skipped": done.skipped}
        sql.run(
            f"INSERT INTO {LEDGER} VALUES (:p, :p, '', NULL, 'source', :p, :p, :p)",
            (*ledger_head, orjson.dumps({**source, **counts}).decode(), applied, sql.stamp),
        )
    if applied:
        checkpoint()
    if updates is not None:
        sql.drop(updates)
    stager.commit()
    committed()
    return done


def _compare(
    sql: _Dialect,
    same: str,
    same_params: list[Any],
    columns: Sequence[str],
    derived: frozenset[str],
    done: Applied,
    ledger_head: tuple[str, int],
    applied: bool,
) -> str:
    """Field-by-field comparison of the staged rows that SQL could not call unchanged."""
    table = sql.create_updates_table()
    wanted = frozenset(columns)
    unchanged: list[tuple[int, str]] = []
    updates: list[tuple[Any, ...]] = []
    dumps = orjson.dumps
    same_row = f"INSERT INTO {LEDGER} VALUES (:p, :p, '', :p, 'unchanged', :p, :p, :p)"

    def flush() -> None:
        nonlocal unchanged, updates
        if updates:
            sql.add_updates(table, updates)
            done.updated += len(updates)
        for start in range(0, len(unchanged), UNCHANGED_CHUNK):
            pairs = unchanged[start : start + UNCHANGED_CHUNK]
            sql.many(
                same_row,
                [(*ledger_head, pairs[0][0], dumps(pairs).decode(), applied, sql.stamp)],
            )
        unchanged, updates = [], []

    cursor = sql.open_candidates(same, same_params)
    try:
        for row_no, tag, new_type, new_props, asset_id, old_type, old_props in _rows(cursor):
            merged, changes = diff_asset(
                old_type, _load(old_props), new_type, _load(new_props), wanted, derived
            )
            if changes:
                updates.append(
                    (asset_id, row_no, tag, new_type, dumps(merged).decode(),
                     dumps(changes).decode())
                )  # fmt: skip
            else:
                unchanged.append((row_no, tag))
            if len(updates) + len(unchanged) >= BATCH:
                flush()
    finally:
        cursor.close()
    flush()
    sql.run(
        f"INSERT INTO {LEDGER} SELECT :p, :p, u.tag, u.row_no, 'updated', u.changes, :p, :p"
        f" FROM {table} u",
        (*ledger_head, applied, sql.stamp),
    )
    return table


def _load(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    loaded = orjson.loads(value) if value else {}
    return loaded if isinstance(loaded, dict) else {}


def _record_skipped(
    sql: _Dialect, skipped: Sequence[tuple[int, str]], head: tuple[str, int], applied: bool
) -> None:
    rows = [(*head, tag[:100], row_no, applied, sql.stamp) for row_no, tag in skipped]
    statement = f"INSERT INTO {LEDGER} VALUES (:p, :p, :p, :p, 'skipped', NULL, :p, :p)"
    for start in range(0, len(rows), BATCH):
        sql.many(statement, rows[start : start + BATCH])
