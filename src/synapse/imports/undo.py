"""Undoing one import: created assets deleted, updated ones restored, later changes left alone.

The import's ledger says what it did to each asset (and what its rules stage `set`; created
assets come a thousand to a ledger row, `imports.chunks`). An asset that a later job changed
(any later ledger row of another job), or that is gone, is a conflict: left as it is and listed.
Everything else is reverted in one transaction, each reversal recorded in the undo job's own
ledger (`deleted`, `restored`), so the asset history shows it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, delete, insert, select, text, update

from synapse.config import Settings
from synapse.db.engine import get_engine, session_scope
from synapse.db.models import Asset, AssetChange, Finding, Job, Project, utcnow
from synapse.errors import InvalidInput
from synapse.imports.chunks import load_pairs
from synapse.imports.ledger import set_fields
from synapse.imports.writer import PostgresStager

TASK = "undo_import"
TAG_CHUNK = 500
CONFLICTS_IN_RESULT = 100
REVERSIBLE = ("created", "updated", "set")


@dataclass
class _Entry:
    """What one import did to one asset."""

    first: str  # created | updated | set
    last_id: int
    old: dict[str, Any] = field(default_factory=dict)  # field -> value before the import


def _entries(conn: Connection, job_id: str) -> dict[str, _Entry]:
    rows = conn.execute(
        select(AssetChange.id, AssetChange.tag, AssetChange.action, AssetChange.changes)
        .where(
            AssetChange.job_id == job_id,
            AssetChange.applied.is_(True),
            AssetChange.action.in_(REVERSIBLE),
        )
        .order_by(AssetChange.id)
    )
    entries: dict[str, _Entry] = {}
    for change_id, tag, action, changes in rows:
        if action == "created" and tag == "":  # a chunk: [[row, tag], ...] (imports.chunks)
            for _row, created in load_pairs(changes):
                entries.setdefault(created, _Entry(first="created", last_id=change_id))
            continue
        entry = entries.get(tag)
        if entry is None:
            entry = entries[tag] = _Entry(first=action, last_id=change_id)
        entry.last_id = change_id
        if action in ("updated", "set") and isinstance(changes, dict):
            for name, pair in changes.items():
                entry.old.setdefault(name, pair.get("old") if isinstance(pair, dict) else None)
    return entries


def _later(conn: Connection, project_id: int, job_id: str, tags: Sequence[str]) -> dict[str, Any]:
    """The latest change of each of `tags` by another job: (ledger id, job id, type, at)."""
    found: dict[str, Any] = {}
    query = (
        select(AssetChange.tag, AssetChange.id, AssetChange.job_id, Job.type, AssetChange.at)
        .join(Job, Job.id == AssetChange.job_id, isouter=True)
        .where(
            AssetChange.project_id == project_id,
            AssetChange.applied.is_(True),
            AssetChange.job_id != job_id,
            AssetChange.action.in_(("created", "updated", "set", "deleted", "restored")),
        )
    )
    for start in range(0, len(tags), TAG_CHUNK):
        chunk = tags[start : start + TAG_CHUNK]
        for tag, change_id, other, kind, at in conn.execute(
            query.where(AssetChange.tag.in_(chunk))
        ):
            if tag not in found or change_id > found[tag][0]:
                found[tag] = (change_id, other, kind, at)
    return found


def _current(conn: Connection, project_id: int, tags: Sequence[str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for start in range(0, len(tags), TAG_CHUNK):
        chunk = tags[start : start + TAG_CHUNK]
        query = select(Asset.id, Asset.tag, Asset.type, Asset.properties).where(
            Asset.project_id == project_id, Asset.tag.in_(chunk)
        )
        for asset_id, tag, kind, props in conn.execute(query):
            found[tag] = (asset_id, kind, dict(props or {}))
    return found


def run_undo(
    settings: Settings,
    *,
    import_job_id: str,
    job_id: str,
    checkpoint: Callable[[], None],
    committed: Callable[[], None],
) -> dict[str, Any]:
    """Revert one import in one transaction; returns counts and the conflicts left alone."""
    started = time.perf_counter()
    with session_scope(settings) as session:
        job = session.get(Job, import_job_id)
        project = (
            session.scalar(select(Project).where(Project.key == job.project_key)) if job else None
        )
        if job is None or project is None:
            raise InvalidInput(f"import {import_job_id} no longer exists; nothing was changed")
        project_id, project_key = project.id, project.key
    engine = get_engine(settings)
    deleted: list[str] = []
    restored: list[str] = []
    conflicts: list[dict[str, Any]] = []
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")  # the write lock before the first read
        else:
            conn.execute(
                text("SELECT pg_advisory_xact_lock(:space, :project)"),
                {"space": PostgresStager.LOCK_SPACE, "project": project_id},
            )
        try:
            entries = _entries(conn, import_job_id)
            tags = sorted(entries)
            later = _later(conn, project_id, import_job_id, tags)
            current = _current(conn, project_id, tags)
            checkpoint()
            ledger: list[dict[str, Any]] = []
            for tag in tags:
                entry = entries[tag]
                newer = later.get(tag)
                asset = current.get(tag)
                if newer is not None and newer[0] > entry.last_id:
                    _, other, kind, at = newer
                    when = at.strftime("%Y-%m-%d %H:%M UTC") if at else "later"
                    conflicts.append(
                        {"tag": tag, "reason": f"changed since by job {other} ({kind}) on {when}",
                         "job_id": other}
                    )  # fmt: skip
                    continue
                if asset is None:
                    conflicts.append({"tag": tag, "reason": "the asset no longer exists"})
                    continue
                asset_id, kind, props = asset
                if entry.first == "created":
                    conn.execute(delete(Asset).where(Asset.id == asset_id))
                    ledger.append(_row(job_id, project_id, tag, "deleted",
                                       {"type": kind, "properties": props}))  # fmt: skip
                    deleted.append(tag)
                    continue
                new_kind, new_props, changes = set_fields(kind, props, entry.old)
                if changes:
                    conn.execute(
                        update(Asset)
                        .where(Asset.id == asset_id)
                        .values(type=new_kind, properties=new_props, updated_at=utcnow())
                    )
                    ledger.append(_row(job_id, project_id, tag, "restored", changes))
                    restored.append(tag)
            if ledger:
                conn.execute(insert(AssetChange), ledger)
            for start in range(0, len(deleted), TAG_CHUNK):
                conn.execute(
                    delete(Finding).where(
                        Finding.project_id == project_id,
                        Finding.asset_tag.in_(deleted[start : start + TAG_CHUNK]),
                    )
                )
            checkpoint()
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
    committed()
    summary = (
        f"Undo of import {import_job_id[:8]}: {len(deleted):,} created assets deleted, "
        f"{len(restored):,} updated assets restored"
        + (f"; {len(conflicts):,} changed since and left alone" if conflicts else "")
    )
    return {
        "status": "SUCCESS",
        "summary": summary,
        "project_id": project_key,
        "undo_of": import_job_id,
        "deleted_count": len(deleted),
        "restored_count": len(restored),
        "conflict_count": len(conflicts),
        "conflicts": conflicts[:CONFLICTS_IN_RESULT],
        "duration_seconds": round(time.perf_counter() - started, 3),
    }


def _row(job_id: str, project_id: int, tag: str, action: str, changes: Any) -> dict[str, Any]:
    return {
        "job_id": job_id,
        "project_id": project_id,
        "tag": tag,
        "row": None,
        "action": action,
        "changes": changes,
        "applied": True,
        "at": utcnow(),
    }
