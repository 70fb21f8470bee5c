"""The change ledger: what each job did to each asset, read back for people and for undo.

Rows are written in bulk by `imports.apply` (imports and previews), `rules.store` (`set`
actions) and `imports.undo`. `changes` is `{field: {"old", "new"}}` for `updated`, `set` and
`restored`; for `created` and `deleted` it is the asset's values (`{"type", "properties"}`),
shown here as every field going from or to nothing. A missing property is `null`. Chunk rows
(`unchanged`, and `created` of an applied import) hold `[[row, tag], ...]` (`imports.chunks`);
a `source` row closes an applied import's ledger (`imports.identical`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import case, func, insert, select
from sqlalchemy.orm import Session

from synapse.db.models import AssetChange, Job
from synapse.imports import chunks
from synapse.imports.created import creations, values_at_creation

ACTIONS = ("created", "updated", "unchanged", "skipped")
HISTORY_ACTIONS = ("created", "updated", "set", "deleted", "restored")
Changes = dict[str, dict[str, Any]]


def set_fields(
    kind: str, props: Mapping[str, Any], values: Mapping[str, Any]
) -> tuple[str, dict[str, Any], Changes]:
    """The asset with `values` set (`type`, or a property; a property's None removes it), and
    the changes that makes, field by field (a value of another JSON type is a change)."""
    new_kind, new_props = kind, dict(props)
    changes: Changes = {}
    for name, value in values.items():
        if name == "type":
            if value is not None and value != kind:
                changes["type"] = {"old": kind, "new": value}
                new_kind = value
            continue
        old = props.get(name)
        if value is None:
            new_props.pop(name, None)
        else:
            new_props[name] = value
        if old != value or type(old) is not type(value):
            changes[name] = {"old": old, "new": value}
    return new_kind, new_props, changes


def diff_asset(
    old_type: str,
    old_props: Mapping[str, Any],
    new_type: str,
    new_props: Mapping[str, Any],
    columns: frozenset[str],
    derived: frozenset[str] = frozenset(),
) -> tuple[dict[str, Any], Changes]:
    """The properties after an import of `new_props` over `columns`, and what changed.

    The file's columns replace what the asset had (an empty cell, absent from `new_props`,
    removes the property); the asset's other properties stay — except the `derived` ones (what
    the project's rules `set`), which go when anything else changed, for the import's rules
    stage to derive again from the new values.
    """
    values = {"type": new_type} | {name: new_props.get(name) for name in columns}
    _kind, merged, changes = set_fields(old_type, old_props, values)
    if changes:
        for name in derived:
            if name in merged and name not in columns:
                changes[name] = {"old": merged.pop(name), "new": None}
    return merged, changes


def as_changes(action: str, stored: Any) -> Changes:
    """The `{field: {old, new}}` form of a ledger row, whatever its action."""
    if not isinstance(stored, dict):
        return {}
    if action in ("created", "deleted"):
        values: dict[str, Any] = {"type": stored.get("type")}
        props = stored.get("properties")
        values.update(props if isinstance(props, dict) else {})
        if action == "created":
            return {k: {"old": None, "new": v} for k, v in values.items()}
        return {k: {"old": v, "new": None} for k, v in values.items()}
    return stored


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def counts_of(session: Session, job_id: str) -> dict[str, int]:
    """Assets by action (a chunk row counts its pairs)."""
    rows = session.execute(
        select(
            AssetChange.action,
            func.sum(case((chunks.is_chunk(), chunks.length(_dialect(session))), else_=1)),
        )
        .where(AssetChange.job_id == job_id, AssetChange.action.in_(ACTIONS))
        .group_by(AssetChange.action)
    ).all()
    found: Counter[str] = Counter({str(action): int(n or 0) for action, n in rows})
    return {action: found[action] for action in ACTIONS}


def _chunk_index(session: Session, job_id: str, action: str) -> list[tuple[int, int, int]]:
    """(id, first row, pairs) of a job's chunk rows of `action`, in order."""
    rows = session.execute(
        select(AssetChange.id, AssetChange.row, chunks.length(_dialect(session)))
        .where(AssetChange.job_id == job_id, AssetChange.action == action, chunks.is_chunk())
        .order_by(AssetChange.row, AssetChange.id)
    ).all()
    return [(int(i), int(r or 0), int(n or 0)) for i, r, n in rows]


def _unchanged_page(session: Session, job_id: str, *, limit: int, offset: int) -> list[Any]:
    """A page of the unchanged assets, which are kept CHUNK to a ledger row."""
    wanted, start = [], 0
    for chunk_id, _row, length in _chunk_index(session, job_id, "unchanged"):
        end = start + length
        if end > offset and start < offset + limit:
            wanted.append((chunk_id, start))
        start = end
    items: list[Any] = []
    for chunk_id, first in wanted:
        pairs = chunks.load_pairs(session.get_one(AssetChange, chunk_id).changes)
        for i, (row, tag) in enumerate(pairs, start=first):
            if offset <= i < offset + limit:
                items.append({"row": row, "tag": tag, "action": "unchanged", "changes": {}})
    return items


def _single(r: AssetChange) -> dict[str, Any]:
    return {
        "row": r.row,
        "tag": r.tag,
        "action": r.action,
        "changes": as_changes(r.action, r.changes),
    }


def _bucket_sizes(
    session: Session, singles: Any, created: list[tuple[int, int, int]]
) -> Counter[int]:
    """Entries per bucket of rows (`row // CHUNK`): one-row entries and created pairs."""
    sizes: Counter[int] = Counter()
    for _id, first, length in created:
        sizes[first // chunks.CHUNK] += length
    bucket = (singles.subquery().c.row // chunks.CHUNK).label("bucket")
    for b, n in session.execute(select(bucket, func.count()).group_by(bucket)):
        sizes[int(b or 0)] += int(n)
    return sizes


def _bucket(
    session: Session, singles: Any, created: list[tuple[int, int, int]], b: int
) -> list[tuple[dict[str, Any], int | None]]:
    """The entries of one bucket by row, each with the id of its created chunk (or None)."""
    low, high = b * chunks.CHUNK, (b + 1) * chunks.CHUNK
    rows = session.scalars(
        singles.where(AssetChange.row >= low, AssetChange.row < high).order_by(
            AssetChange.row, AssetChange.id
        )
    )
    merged: list[tuple[int, dict[str, Any], int | None]] = [
        (int(r.row or 0), _single(r), None) for r in rows
    ]
    for chunk_id, first, _n in created:
        if first // chunks.CHUNK == b:
            pairs = chunks.load_pairs(session.get_one(AssetChange, chunk_id).changes)
            merged += [(row, {"row": row, "tag": tag, "action": "created"}, chunk_id)
                       for row, tag in pairs]  # fmt: skip
    merged.sort(key=lambda m: m[0])
    return [(item, chunk_id) for _row, item, chunk_id in merged]


def _with_created_chunks(
    session: Session,
    singles: Any,
    created: list[tuple[int, int, int]],
    *,
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    """A page by row of one-row entries (`singles`, a query) merged with created chunks.

    Chunks of an applied import hold the rows of one bucket (`row // CHUNK`), so the page's
    buckets are found from counts per bucket, and only those are read and merged.
    """
    sizes = _bucket_sizes(session, singles, created)
    page: list[tuple[dict[str, Any], int | None]] = []
    start = 0
    for b in sorted(sizes):
        end = start + sizes[b]
        if end > offset and start < offset + limit:
            entries = _bucket(session, singles, created, b)
            page += entries[max(0, offset - start) : offset + limit - start]
        start = end
    made = {item["tag"]: chunk_id for item, chunk_id in page if chunk_id is not None}
    project_id = int(session.get_one(AssetChange, created[0][0]).project_id)
    values = values_at_creation(session, project_id, made) if made else {}
    for item, chunk_id in page:
        if chunk_id is not None:
            item["changes"] = as_changes("created", values.get(item["tag"]))
    return [item for item, _ in page], sum(sizes.values())


def list_changes(
    session: Session, job_id: str, *, action: str | None, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """A page of a job's ledger by row; without `action`, the unchanged assets come last.
    Created assets kept in chunks (an applied import's) are listed with the values they were
    created with (`imports.created`)."""
    counts = counts_of(session, job_id)
    if action == "unchanged":
        total = counts["unchanged"]
        return _unchanged_page(session, job_id, limit=limit, offset=offset), total
    shown = (action,) if action else ("created", "updated", "skipped")
    singles = select(AssetChange).where(
        AssetChange.job_id == job_id,
        AssetChange.action.in_(shown),
        ~chunks.is_chunk(),
    )
    created = _chunk_index(session, job_id, "created") if "created" in shown else []
    if created:
        items, others = _with_created_chunks(session, singles, created, limit=limit, offset=offset)
    else:
        others = int(session.scalar(select(func.count()).select_from(singles.subquery())) or 0)
        rows = session.scalars(
            singles.order_by(AssetChange.row, AssetChange.id).limit(limit).offset(offset)
        ).all()
        items = [_single(r) for r in rows]
    if action:
        return items, others
    if len(items) < limit:
        items += _unchanged_page(
            session, job_id, limit=limit - len(items), offset=max(0, offset - others)
        )
    return items, others + counts["unchanged"]


def asset_history(
    session: Session, project_id: int, tag: str, *, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """What jobs did to one asset, newest first (previews and unchanged looks left out). Its
    creation by an applied import is found in that import's chunks (`imports.created`)."""
    query = (
        select(AssetChange, Job.type, Job.submitted_by)
        .join(Job, Job.id == AssetChange.job_id, isouter=True)
        .where(
            AssetChange.project_id == project_id,
            AssetChange.tag == tag,
            AssetChange.applied.is_(True),
            AssetChange.action.in_(HISTORY_ACTIONS),
        )
    )
    total = int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    made = creations(session, project_id, tag)
    found = session.execute(query.order_by(AssetChange.id.desc()).limit(limit + offset)).all()
    entries: list[tuple[Any, ...]] = [
        (c.id, c.job_id, job_type, c.action, c.at, by, c.row, as_changes(c.action, c.changes))
        for c, job_type, by in found
    ]
    for change, row in made:
        job = session.get(Job, change.job_id)
        values = values_at_creation(session, project_id, {tag: change.id}).get(tag)
        entries.append(
            (change.id, change.job_id, job.type if job else None, "created", change.at,
             job.submitted_by if job else None, row, as_changes("created", values))
        )  # fmt: skip
    entries.sort(key=lambda e: e[0], reverse=True)
    keys = ("job_id", "job_type", "action", "at", "by", "row", "changes")
    items = [dict(zip(keys, e[1:], strict=True)) for e in entries[offset : offset + limit]]
    return items, total + len(made)


def record(
    session: Session,
    *,
    job_id: str,
    project_id: int,
    entries: Sequence[tuple[str, str, Any]],
) -> None:
    """Ledger rows (tag, action, changes) of an applied change, in the caller's transaction."""
    if not entries:
        return
    session.execute(
        insert(AssetChange),
        [
            {
                "job_id": job_id,
                "project_id": project_id,
                "tag": tag,
                "row": None,
                "action": action,
                "changes": changes,
                "applied": True,
            }
            for tag, action, changes in entries
        ],
    )
