"""The change ledger: what each job did to each asset, read back for people and for undo.

Rows are written in bulk by `imports.apply` (imports and previews), `rules.store` (`set`
actions) and `imports.undo`. `changes` is `{field: {"old", "new"}}` for `updated`, `set` and
`restored`; for `created` and `deleted` it is the asset's values (`{"type", "properties"}`),
shown here as every field going from or to nothing. A missing property is `null`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import case, func, insert, select
from sqlalchemy.orm import Session

from synapse.db.models import AssetChange, Job

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


def _pairs_length(session: Session) -> Any:
    """How many assets an `unchanged` row stands for (its `[[row, tag], ...]`)."""
    postgres = session.get_bind().dialect.name == "postgresql"
    return (func.jsonb_array_length if postgres else func.json_array_length)(AssetChange.changes)


def counts_of(session: Session, job_id: str) -> dict[str, int]:
    rows = session.execute(
        select(
            AssetChange.action,
            func.count(),
            func.sum(case((AssetChange.action == "unchanged", _pairs_length(session)), else_=0)),
        )
        .where(AssetChange.job_id == job_id)
        .group_by(AssetChange.action)
    ).all()
    found: Counter[str] = Counter()
    for action, n, pairs in rows:
        found[str(action)] = int(pairs or 0) if action == "unchanged" else int(n)
    return {action: found[action] for action in ACTIONS}


def _unchanged_page(session: Session, job_id: str, *, limit: int, offset: int) -> list[Any]:
    """A page of the unchanged assets, which are kept UNCHANGED_CHUNK to a ledger row."""
    chunks = session.execute(
        select(AssetChange.id, _pairs_length(session))
        .where(AssetChange.job_id == job_id, AssetChange.action == "unchanged")
        .order_by(AssetChange.row)
    ).all()
    wanted, start = [], 0
    for chunk_id, length in chunks:
        end = start + int(length or 0)
        if end > offset and start < offset + limit:
            wanted.append((chunk_id, start))
        start = end
    items: list[Any] = []
    for chunk_id, first in wanted:
        stored: Any = session.get_one(AssetChange, chunk_id).changes or []
        pairs: list[tuple[int, str]] = sorted((int(r), str(t)) for r, t in stored)
        for i, (row, tag) in enumerate(pairs, start=first):
            if offset <= i < offset + limit:
                items.append({"row": row, "tag": tag, "action": "unchanged", "changes": {}})
    return items


def list_changes(
    session: Session, job_id: str, *, action: str | None, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """A page of a job's ledger by row; without `action`, the unchanged assets come last."""
    counts = counts_of(session, job_id)
    if action == "unchanged":
        total = counts["unchanged"]
        return _unchanged_page(session, job_id, limit=limit, offset=offset), total
    query = select(AssetChange).where(
        AssetChange.job_id == job_id, AssetChange.action != "unchanged"
    )
    if action:
        query = query.where(AssetChange.action == action)
    others = int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    rows = session.scalars(
        query.order_by(AssetChange.row, AssetChange.id).limit(limit).offset(offset)
    ).all()
    items = [
        {"row": r.row, "tag": r.tag, "action": r.action, "changes": as_changes(r.action, r.changes)}
        for r in rows
    ]
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
    """What jobs did to one asset, newest first (previews and unchanged looks left out)."""
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
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(query.order_by(AssetChange.id.desc()).limit(limit).offset(offset)).all()
    items = [
        {
            "job_id": change.job_id,
            "job_type": job_type,
            "action": change.action,
            "at": change.at,
            "by": by,
            "row": change.row,
            "changes": as_changes(change.action, change.changes),
        }
        for change, job_type, by in rows
    ]
    return items, int(total)


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
