"""The identical re-import: recorded as unchanged without reading the file again.

Every applied import ends its ledger with a `source` row: the file's fingerprint (SHA-256 and
size of its bytes, kind, sheet, header row, the effective column mapping, the mode and VERSION)
and its counts (rows, created, updated, skipped). An import whose file has the same fingerprint
as the project's last applied import may skip reading, validating, staging and comparing when
nothing can have changed since:

- the last applied import (the newest applied `source` row of the project) has the same
  fingerprint, read every row and skipped none (no row errors), and was an upsert, as this
  one is (not a preview, not the commit of a preview);
- no applied ledger row of the project other than `unchanged`, `skipped` and `source` is newer
  than that `source` row — not the rules stage of that import, not a later import, rule `set`
  or undo. This rests on the ledger recording every write of an asset: imports (created,
  updated), rule runs (`set`) and undos (deleted, restored) do; a rule run outside a job
  (`run_rules` without `job_id`, which no entry point does) or a hand-made SQL change would
  not, and would go unnoticed here;
- no job of the project was pruned since (the retention deletes a job's ledger rows with it,
  so the newer rows of a pruned job could no longer be seen); a pruned import has no ledger,
  so no `source` row.

Newer means a higher id. Ids are given in commit order for these writers: on SQLite every
write transaction holds the one write lock; on PostgreSQL imports and undos hold the project's
import lock, rule runs its rule lock, and an applied import takes the rule lock too before it
compares (`imports.apply`), as this check does before it reads.

Then, holding the same locks, the previous import's `(row, tag)` pairs (its created and
unchanged chunks as they are, its updated rows grouped CHUNK to a row) are recorded as this
import's `unchanged` chunks, with a `source` row of its own: the result is what the normal path
would give (created 0, updated 0, unchanged N, no rules stage, since nothing was written).
Anything else — a different file or option, a change since, a count that does not add up — is
the normal path.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import orjson
from sqlalchemy import Engine

from synapse.db.models import utcnow
from synapse.imports.chunks import CHUNK
from synapse.imports.table import Layout
from synapse.imports.writer import PostgresStager
from synapse.rules.store import LOCK_SPACE as RULES_LOCK

# Bump when reading, validating or comparing changes what the same file imports as: a
# fingerprint of another version never matches.
VERSION = 1
LEDGER = "asset_changes (job_id, project_id, tag, row, action, changes, applied, at)"
# The actions that write no asset.
QUIET = "('unchanged', 'skipped', 'source')"


@dataclass(frozen=True)
class Identical:
    """An import recorded as identical to `previous_job`."""

    previous_job: str
    previous_at: datetime | str
    rows: int

    def describe(self) -> str:
        at = self.previous_at
        when = at.strftime("%Y-%m-%d %H:%M:%S UTC") if isinstance(at, datetime) else str(at)[:19]
        return (
            f"identical to import {self.previous_job} of {when}; no asset changed since: "
            f"{self.rows:,} rows recorded as unchanged without reading them again"
        )


def fingerprint(path: Path, layout: Layout, mode: str) -> dict[str, Any]:
    """What makes two imports of a project read the same rows the same way."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return {
        "v": VERSION,
        "sha256": digest.hexdigest(),
        "size": path.stat().st_size,
        "kind": layout.table.kind,
        "sheet": layout.table.sheet,
        "header_row": layout.header_row,
        "mapping": dict(layout.plan.mapping),
        "mode": mode,
    }


def _load(value: Any) -> dict[str, Any]:
    loaded = orjson.loads(value) if isinstance(value, (str, bytes)) else value
    return loaded if isinstance(loaded, dict) else {}


class _Conn:
    """A driver connection in one write transaction holding the project's locks."""

    def __init__(self, engine: Engine, project_id: int) -> None:
        self._raw = engine.raw_connection()
        self.conn: Any = cast(Any, self._raw.driver_connection)
        self.postgres = engine.dialect.name == "postgresql"
        self.param = "%s" if self.postgres else "?"
        now = utcnow()
        self.stamp: Any = now if self.postgres else now.strftime("%Y-%m-%d %H:%M:%S.%f")
        if self.postgres:
            self.run(
                "SELECT pg_advisory_xact_lock(:p, :p)", (PostgresStager.LOCK_SPACE, project_id)
            )
            self.run("SELECT pg_advisory_xact_lock(:p, :p)", (RULES_LOCK, project_id))
        else:
            self._isolation = self.conn.isolation_level
            self.conn.isolation_level = None
            self.run("BEGIN IMMEDIATE")

    def run(self, text: str, params: tuple[Any, ...] = ()) -> Any:
        return self.conn.execute(text.replace(":p", self.param), params)

    def pairs(self) -> str:
        if self.postgres:
            return "jsonb_agg(jsonb_build_array(c.row, c.tag) ORDER BY c.row)"
        return "json_group_array(json_array(c.row, c.tag))"

    def length(self) -> str:
        return "jsonb_array_length(changes)" if self.postgres else "json_array_length(changes)"

    def commit(self) -> None:
        if self.postgres:
            self.conn.commit()
        else:
            self.run("COMMIT")

    def close(self) -> None:
        try:
            if self.postgres:
                self.conn.rollback()
            elif self.conn.in_transaction:
                self.run("ROLLBACK")
        finally:
            if not self.postgres:
                self.conn.isolation_level = self._isolation
            self._raw.close()


def record_if_identical(
    engine: Engine,
    *,
    project_id: int,
    project_key: str,
    job_id: str,
    source: dict[str, Any],
    checkpoint: Callable[[], None],
    committed: Callable[[], None],
) -> Identical | None:
    """Record this import as identical to the project's last applied import when it is (see
    the module text), in one transaction; None, having written nothing, when it is not."""
    if not job_id or source.get("mode") != "upsert":
        return None
    db = _Conn(engine, project_id)
    try:
        last = db.run(
            "SELECT id, job_id, changes, at FROM asset_changes WHERE project_id = :p"
            " AND tag = '' AND action = 'source' AND applied ORDER BY id DESC LIMIT 1",
            (project_id,),
        ).fetchone()
        if last is None:
            return None
        mark, previous, stored, at = last[0], str(last[1]), _load(last[2]), last[3]
        rows = int(stored.get("rows") or 0)
        if (
            not previous
            or rows <= 0
            or stored.get("skipped")
            or {k: stored.get(k) for k in source} != source
        ):
            return None
        newer = db.run(
            "SELECT 1 FROM asset_changes WHERE id > :p AND project_id = :p AND applied"
            f" AND action NOT IN {QUIET} LIMIT 1",
            (mark, project_id),
        ).fetchone()
        if newer is not None:
            return None
        pruned = db.run(
            "SELECT 1 FROM pruned_jobs WHERE project_key = :p AND pruned_at >= :p LIMIT 1",
            (project_key, at),
        ).fetchone()
        if pruned is not None:
            return None
        head = (job_id, db.stamp, previous)
        db.run(
            f"INSERT INTO {LEDGER} SELECT :p, project_id, '', row, 'unchanged', changes, TRUE, :p"
            " FROM asset_changes WHERE job_id = :p AND applied AND tag = ''"
            " AND action IN ('created', 'unchanged') ORDER BY row, id",
            head,
        )
        db.run(
            f"INSERT INTO {LEDGER} SELECT :p, min(c.project_id), '', min(c.row), 'unchanged',"
            f" {db.pairs()}, TRUE, :p FROM asset_changes c"
            f" WHERE c.job_id = :p AND c.applied AND c.action = 'updated'"
            f" GROUP BY c.row / {CHUNK}",
            head,
        )
        copied = db.run(
            f"SELECT sum({db.length()}) FROM asset_changes WHERE job_id = :p"
            " AND action = 'unchanged'",
            (job_id,),
        ).fetchone()[0]
        if int(copied or 0) != rows:
            return None  # rolled back by close()
        counts = {"rows": rows, "created": 0, "updated": 0, "skipped": 0, "identical_to": previous}
        db.run(
            f"INSERT INTO {LEDGER} VALUES (:p, :p, '', NULL, 'source', :p, TRUE, :p)",
            (job_id, project_id, orjson.dumps({**source, **counts}).decode(), db.stamp),
        )
        checkpoint()
        db.commit()
    finally:
        db.close()
    committed()
    return Identical(previous_job=previous, previous_at=at, rows=rows)
