"""Rules and findings in the database: CRUD, streamed asset reads and the bulk replace.

Reads come in batches (a server-side cursor on PostgreSQL, `IN` lists of a few hundred tags for
a partial run); writes are multi-row inserts and `executemany` updates in batches, all in one
transaction, never one statement per asset.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import (
    CompoundSelect,
    Connection,
    Engine,
    Text,
    and_,
    case,
    cast,
    delete,
    func,
    insert,
    select,
    text,
    true,
)
from sqlalchemy.orm import Session

from synapse.db.models import Asset, AssetChange, Finding, Rule, utcnow
from synapse.imports import chunks
from synapse.rules.engine import AssetRow, Outcome
from synapse.rules.schemas import SEVERITIES

READ_BATCH = 2_000
TAG_CHUNK = 500  # tags per IN list
WRITE_BATCH = 5_000
# A partial run that covers more tags than this reads the whole project and filters.
SCAN_ABOVE = 5_000
# pg_advisory_xact_lock namespace of rule runs ("SYR"): one writer per project at a time.
LOCK_SPACE = 0x535952
SEVERITY_ORDER = case({s: i for i, s in enumerate(SEVERITIES)}, value=Finding.severity, else_=9)


# -- rules ---------------------------------------------------------------------------------


def list_rules(
    session: Session, project_id: int, *, limit: int, offset: int
) -> tuple[Sequence[Rule], int]:
    query = select(Rule).where(Rule.project_id == project_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    return session.scalars(query.order_by(Rule.id).limit(limit).offset(offset)).all(), total


def get_rule(session: Session, project_id: int, rule_id: int) -> Rule | None:
    return session.scalar(select(Rule).where(Rule.project_id == project_id, Rule.id == rule_id))


def name_taken(session: Session, project_id: int, name: str, but: int | None = None) -> bool:
    query = select(Rule.id).where(Rule.project_id == project_id, Rule.name == name)
    if but is not None:
        query = query.where(Rule.id != but)
    return session.scalar(query) is not None


def enabled_rules(session: Session, project_id: int) -> Sequence[Rule]:
    query = select(Rule).where(Rule.project_id == project_id, Rule.enabled.is_(True))
    return session.scalars(query.order_by(Rule.id)).all()


def has_enabled_rules(session: Session, project_id: int) -> bool:
    query = select(Rule.id).where(Rule.project_id == project_id, Rule.enabled.is_(True))
    return session.scalar(query.limit(1)) is not None


def derived_properties(session: Session, project_id: int) -> list[str]:
    """The properties the project's enabled rules `set`: derived, not imported."""
    return sorted(
        {
            str(rule.action["property"])
            for rule in enabled_rules(session, project_id)
            if isinstance(rule.action, dict) and rule.action.get("type") == "set"
        }
    )


def delete_findings_of_rule(session: Session, rule_id: int) -> None:
    session.execute(delete(Finding).where(Finding.rule_id == rule_id))


# -- findings ------------------------------------------------------------------------------


def list_findings(
    session: Session,
    project_id: int,
    *,
    severities: Sequence[str] = (),
    rule_id: int | None = None,
    rule_name: str | None = None,
    asset_tag: str | None = None,
    limit: int,
    offset: int,
) -> tuple[list[tuple[Finding, str]], int, dict[str, int]]:
    """A page of findings (most severe first, then by tag), the total under the filters, and
    counts by severity under the filters other than severity."""
    where: list[Any] = [Finding.project_id == project_id]
    if rule_id is not None:
        where.append(Finding.rule_id == rule_id)
    if rule_name is not None:
        where.append(Rule.name == rule_name)
    if asset_tag is not None:
        where.append(Finding.asset_tag == asset_tag)
    joined = select(Finding.severity, func.count()).join(Rule, Rule.id == Finding.rule_id)
    counted = session.execute(joined.where(*where).group_by(Finding.severity)).all()
    totals = {s: 0 for s in SEVERITIES} | {str(s): int(n) for s, n in counted}
    if severities:
        where.append(Finding.severity.in_(list(severities)))
    total = sum(n for s, n in totals.items() if not severities or s in severities)
    query = (
        select(Finding, Rule.name)
        .join(Rule, Rule.id == Finding.rule_id)
        .where(*where)
        .order_by(SEVERITY_ORDER, Finding.asset_tag, Finding.rule_id, Finding.id)
        .limit(limit)
        .offset(offset)
    )
    rows = [(finding, str(name)) for finding, name in session.execute(query).all()]
    return rows, total, totals


# -- a run: read assets, replace findings, apply sets ------------------------------------


def count_assets(session: Session, project_id: int) -> int:
    query = select(func.count()).select_from(Asset).where(Asset.project_id == project_id)
    return int(session.scalar(query) or 0)


def _rows(conn: Connection, query: Any) -> Iterator[AssetRow]:
    result = conn.execution_options(yield_per=READ_BATCH).execute(query)
    try:
        for asset_id, tag, kind, props in result:
            # Properties come as JSON text (orjson parses it ~3x faster than the default).
            data = orjson.loads(props) if props else {}
            yield AssetRow(int(asset_id), tag, kind, data if isinstance(data, dict) else {})
    finally:
        result.close()


@dataclass(frozen=True)
class WrittenBy:
    """The assets a job created or updated, by its ledger: an import's (or undo's) rules stage
    reads them with one query instead of lists of tags. An applied import's created assets are
    chunk rows, `[[row, tag], ...]` (`imports.chunks`): their tags come out of the JSON."""

    job_id: str

    def _rows(self) -> Any:  # the one-asset ledger rows of what the job wrote
        return and_(
            AssetChange.job_id == self.job_id,
            AssetChange.action.in_(("created", "updated", "restored")),
            AssetChange.tag != "",
        )

    def tags(self, dialect: str) -> CompoundSelect[Any]:
        """The tags, each once (an import creates or updates an asset, not both)."""
        pairs, pair_tag = chunks.elements(dialect)
        created = (
            select(pair_tag.label("tag"))
            .select_from(AssetChange)
            .join(pairs, true())
            .where(
                AssetChange.job_id == self.job_id,
                AssetChange.action == "created",
                AssetChange.tag == "",
            )
        )
        return select(AssetChange.tag.label("tag")).where(self._rows()).union_all(created)

    def join(self, query: Any, dialect: str) -> Any:
        """`query` over assets, narrowed by a join from the ledger's tags (one row per asset).

        A join, not `tag IN (subquery)`: PostgreSQL's statistics of a ledger written moments
        ago say it has a few rows, and for a semi-join it may then compare every asset of the
        project with every ledger row (minutes for 300,000); a join probes the unique index.
        """
        written = self.tags(dialect).subquery()
        return query.join(written, Asset.tag == written.c.tag)


Scope = Sequence[str] | WrittenBy | None  # None: the whole project


def count_scope(session: Session, project_id: int, tags: Scope) -> int:
    if tags is None:
        return count_assets(session, project_id)
    if isinstance(tags, WrittenBy):
        written = tags.tags(session.get_bind().dialect.name).subquery()
        return int(session.scalar(select(func.count()).select_from(written)) or 0)
    return len(set(tags))


def stream_assets(conn: Connection, project_id: int, tags: Scope = None) -> Iterator[AssetRow]:
    """The project's assets (only `tags`, when given) in batches, by id."""
    query = select(Asset.id, Asset.tag, Asset.type, cast(Asset.properties, Text)).where(
        Asset.project_id == project_id
    )
    if tags is None:
        yield from _rows(conn, query.order_by(Asset.id))
    elif isinstance(tags, WrittenBy):
        yield from _rows(conn, tags.join(query, conn.dialect.name))
    elif len(tags) > SCAN_ABOVE:
        wanted = set(tags)
        yield from (a for a in _rows(conn, query.order_by(Asset.id)) if a.tag in wanted)
    else:
        unique = sorted(set(tags))
        for start in range(0, len(unique), TAG_CHUNK):
            chunk = unique[start : start + TAG_CHUNK]
            yield from _rows(conn, query.where(Asset.tag.in_(chunk)).order_by(Asset.id))


Check = Callable[[], None]  # a cancel check that writes nothing
FINDING_COLUMNS = "project_id, rule_id, asset_tag, severity, message, job_id, created_at"


def replace_findings(
    engine: Engine,
    *,
    project_id: int,
    tags: Scope,
    outcome: Outcome,
    job_id: str | None,
    checkpoint: Check,
) -> None:
    """In one transaction: drop the findings of the covered assets (all, or `tags`), insert the
    new ones and apply the property changes. `checkpoint` runs between batches; a cancel it
    raises rolls all of it back. (It must not write to the database: on SQLite this
    transaction holds the one write lock.)

    The rows go straight to the driver (`executemany` on SQLite, `COPY` on PostgreSQL): the
    values are plain text and numbers, so SQLAlchemy's per-row processing would only cost time.
    A project's runs write one at a time (SQLite's write lock; an advisory lock on PostgreSQL),
    so two runs at once cannot leave the findings of both.
    """
    now = utcnow()
    # SQLite keeps naive UTC text, in SQLAlchemy's format; PostgreSQL takes the datetime.
    stamp: Any = now.strftime("%Y-%m-%d %H:%M:%S.%f") if engine.dialect.name == "sqlite" else now
    findings = outcome.findings
    with engine.begin() as conn:
        postgres = conn.dialect.name == "postgresql"
        if postgres:
            conn.execute(
                text("SELECT pg_advisory_xact_lock(:space, :project)"),
                {"space": LOCK_SPACE, "project": project_id},
            )
        _delete_findings(conn, project_id, tags)
        insert_rows = _copy_findings if postgres else _insert_findings
        for start in range(0, len(findings), WRITE_BATCH):
            batch = findings[start : start + WRITE_BATCH]
            insert_rows(conn, [(project_id, *f, job_id, stamp) for f in batch])
            checkpoint()
        apply_patches = _patch_postgres if postgres else _patch_sqlite
        apply_patches(conn, list(outcome.patches.items()), stamp, checkpoint)
        if job_id is not None:
            _record_sets(conn, project_id=project_id, outcome=outcome, job_id=job_id, at=now)


def _record_sets(
    conn: Connection, *, project_id: int, outcome: Outcome, job_id: str, at: Any
) -> None:
    """The change ledger's `set` rows: what each asset's derived properties were before."""
    rows = [
        {
            "job_id": job_id,
            "project_id": project_id,
            "tag": tag,
            "row": None,
            "action": "set",
            "changes": {
                name: {"old": old, "new": outcome.patches[asset_id][name]}
                for name, old in olds.items()
            },
            "applied": True,
            "at": at,
        }
        for asset_id, (tag, olds) in outcome.replaced.items()
    ]
    for start in range(0, len(rows), WRITE_BATCH):
        conn.execute(insert(AssetChange), rows[start : start + WRITE_BATCH])


def _insert_findings(conn: Connection, rows: list[tuple[Any, ...]]) -> None:
    conn.exec_driver_sql(
        f"INSERT INTO findings ({FINDING_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)", rows
    )


def _copy_findings(conn: Connection, rows: list[tuple[Any, ...]]) -> None:
    driver: Any = conn.connection.driver_connection
    with (
        driver.cursor() as cursor,
        cursor.copy(f"COPY findings ({FINDING_COLUMNS}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)


Patches = list[tuple[int, dict[str, Any]]]  # asset id, derived properties


def _patch_sqlite(conn: Connection, patches: Patches, stamp: Any, checkpoint: Check) -> None:
    """Merge each asset's derived properties into its JSON: `executemany`, in batches."""
    for start in range(0, len(patches), WRITE_BATCH):
        chunk = patches[start : start + WRITE_BATCH]
        conn.exec_driver_sql(
            "UPDATE assets SET properties = json_patch(properties, ?), updated_at = ? WHERE id = ?",
            [(orjson.dumps(patch).decode(), stamp, aid) for aid, patch in chunk],
        )
        checkpoint()


def _patch_postgres(conn: Connection, patches: Patches, stamp: Any, checkpoint: Check) -> None:
    """COPY the derived properties to a temporary table, then merge them with one UPDATE."""
    if not patches:
        return
    driver: Any = conn.connection.driver_connection
    with driver.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE rule_patches (id bigint PRIMARY KEY, patch jsonb) ON COMMIT DROP"
        )
        for start in range(0, len(patches), WRITE_BATCH):
            with cursor.copy("COPY rule_patches (id, patch) FROM STDIN") as copy:
                for aid, patch in patches[start : start + WRITE_BATCH]:
                    copy.write_row((aid, orjson.dumps(patch).decode()))
            checkpoint()
        cursor.execute(
            "UPDATE assets a SET properties = a.properties || p.patch, updated_at = %s"
            " FROM rule_patches p WHERE a.id = p.id",
            (stamp,),
        )


def _delete_findings(conn: Connection, project_id: int, tags: Scope) -> None:
    if tags is None:
        conn.execute(delete(Finding).where(Finding.project_id == project_id))
        return
    if isinstance(tags, WrittenBy):
        where = [Finding.project_id == project_id]
        written = tags.tags(conn.dialect.name)
        if conn.dialect.name == "postgresql":  # DELETE ... USING: a join, as in `WrittenBy.join`
            sub = written.subquery()
            conn.execute(delete(Finding).where(*where, Finding.asset_tag == sub.c.tag))
        else:
            conn.execute(delete(Finding).where(*where, Finding.asset_tag.in_(written)))
        return
    unique = sorted(set(tags))
    for start in range(0, len(unique), TAG_CHUNK):
        chunk = unique[start : start + TAG_CHUNK]
        conn.execute(
            delete(Finding).where(Finding.project_id == project_id, Finding.asset_tag.in_(chunk))
        )
