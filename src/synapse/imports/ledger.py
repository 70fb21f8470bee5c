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

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from synapse.db.models import AssetChange, Job

ACTIONS = ("created", "updated", "unchanged", "skipped")
HISTORY_ACTIONS = ("created", "updated", "set", "deleted", "restored")
Changes = dict[str, dict[str, Any]]


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
    merged = dict(old_props)
    changes: Changes = {}
    if old_type != new_type:
        changes["type"] = {"old": old_type, "new": new_type}
    for name in columns:
        old = old_props.get(name)
        new = new_props.get(name)
        if new is None:
            merged.pop(name, None)
        else:
            merged[name] = new
        if old != new or type(old) is not type(new):
            changes[name] = {"old": old, "new": new}
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


def counts_of(session: Session, job_id: str) -> dict[str, int]:
    rows = session.execute(
        select(AssetChange.action, func.count())
        .where(AssetChange.job_id == job_id)
        .group_by(AssetChange.action)
    ).all()
    found = Counter({str(action): int(n) for action, n in rows})
    return {action: found[action] for action in ACTIONS}


def list_changes(
    session: Session, job_id: str, *, action: str | None, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    query = select(AssetChange).where(AssetChange.job_id == job_id)
    if action:
        query = query.where(AssetChange.action == action)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(AssetChange.row, AssetChange.id).limit(limit).offset(offset)
    ).all()
    items = [
        {"row": r.row, "tag": r.tag, "action": r.action, "changes": as_changes(r.action, r.changes)}
        for r in rows
    ]
    return items, int(total)


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


def written_tags(session: Session, job_id: str) -> list[str]:
    """The tags a job created or updated (what an import's rules stage looks at)."""
    query = select(AssetChange.tag).where(
        AssetChange.job_id == job_id, AssetChange.action.in_(("created", "updated"))
    )
    return list(session.scalars(query))
