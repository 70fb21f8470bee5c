"""The assets an applied import created, read back from its chunked ledger.

An applied import records its created assets as `[[row, tag], ...]`, a thousand to a ledger
row, without their values (`imports.chunks`). The values an asset was created with are exact
from what the ledger does keep: the asset as it is now — or, when a later undo deleted it, the
values that `deleted` row kept — rolled back through every later ledger row of the asset
(`updated`, `set`, `restored`: each field's old value). That is a few indexed queries per page.

An asset's own creation is found by its `created_at`, which is the ledger stamp (`at`) of the
import that created it: only that import's chunks are searched, first by the tag's JSON text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from synapse.db.models import Asset, AssetChange, Job
from synapse.imports.chunks import contains_text, load_pairs

TAG_CHUNK = 500
LATER = ("updated", "set", "restored", "deleted")
Values = dict[str, Any]  # {"type", "properties"}


def _roll_back(kind: Any, props: dict[str, Any], changes: Any) -> tuple[Any, dict[str, Any]]:
    """The asset before one ledger row's `{field: {old, new}}` was applied."""
    for name, pair in (changes or {}).items():
        old = pair.get("old") if isinstance(pair, dict) else None
        if name == "type":
            kind = old if old is not None else kind
        elif old is None:
            props.pop(name, None)
        else:
            props[name] = old
    return kind, props


def values_at_creation(
    session: Session, project_id: int, created: Mapping[str, int]
) -> dict[str, Values]:
    """The values each asset had when created, by tag; `created` maps a tag to the id of the
    ledger row that created it. A tag whose asset is gone without a trace is left out."""
    found: dict[str, Values] = {}
    tags = sorted(created)
    for start in range(0, len(tags), TAG_CHUNK):
        chunk = tags[start : start + TAG_CHUNK]
        since = min(created[t] for t in chunk)
        later: dict[str, list[tuple[str, Any]]] = {t: [] for t in chunk}
        rows = session.execute(
            select(AssetChange.id, AssetChange.tag, AssetChange.action, AssetChange.changes)
            .where(
                AssetChange.project_id == project_id,
                AssetChange.tag.in_(chunk),
                AssetChange.applied.is_(True),
                AssetChange.action.in_(LATER),
                AssetChange.id > since,
            )
            .order_by(AssetChange.id)
        )
        for change_id, tag, action, changes in rows:
            if change_id > created[tag]:
                later[tag].append((action, changes))
        now = {
            tag: (kind, dict(props or {}))
            for tag, kind, props in session.execute(
                select(Asset.tag, Asset.type, Asset.properties).where(
                    Asset.project_id == project_id, Asset.tag.in_(chunk)
                )
            )
        }
        for tag in chunk:
            entries = later[tag]
            gone = next((i for i, (action, _) in enumerate(entries) if action == "deleted"), None)
            if gone is not None:  # deleted by an undo: the values it kept, before what came next
                kept = entries[gone][1] or {}
                kind, props = kept.get("type"), dict(kept.get("properties") or {})
                entries = entries[:gone]
            elif tag in now:
                kind, props = now[tag]
            else:
                continue
            for _action, changes in reversed(entries):
                kind, props = _roll_back(kind, props, changes)
            found[tag] = {"type": kind, "properties": props}
    return found


def _chunk_with(session: Session, query: Any, tag: str) -> tuple[AssetChange, int] | None:
    """The chunk among `query`'s that holds `tag`, and the tag's row: by its JSON text first,
    then (escaping may differ) by reading every chunk of the query."""
    dialect = session.get_bind().dialect.name
    for narrowed in (query.where(contains_text(dialect, tag)), query):
        for change in session.scalars(narrowed.order_by(AssetChange.id)):
            row = next((r for r, t in load_pairs(change.changes) if t == tag), None)
            if row is not None:
                return change, row
    return None


def creations(session: Session, project_id: int, tag: str) -> list[tuple[AssetChange, int]]:
    """The chunk rows that created this asset (applied imports), with its row in each: the one
    of the asset as it is, and one per `deleted` row of an undo (the import it undid)."""
    chunks = select(AssetChange).where(
        AssetChange.project_id == project_id,
        AssetChange.tag == "",
        AssetChange.action == "created",
        AssetChange.applied.is_(True),
    )
    found: list[tuple[AssetChange, int]] = []
    born = (  # compared in SQL: the same stored value, whatever its type on each database
        select(Asset.created_at)
        .where(Asset.project_id == project_id, Asset.tag == tag)
        .scalar_subquery()
    )
    hit = _chunk_with(session, chunks.where(AssetChange.at == born), tag)
    if hit is not None:
        found.append(hit)
    undos = session.scalars(
        select(AssetChange.job_id).where(
            AssetChange.project_id == project_id,
            AssetChange.tag == tag,
            AssetChange.action == "deleted",
            AssetChange.applied.is_(True),
        )
    ).all()
    for undo in undos:
        job = session.get(Job, undo)
        undone = (job.params or {}).get("import_job_id") if job is not None else None
        if undone:
            hit = _chunk_with(session, chunks.where(AssetChange.job_id == str(undone)), tag)
            if hit is not None and all(hit[0].id != c.id for c, _ in found):
                found.append(hit)
    return found
