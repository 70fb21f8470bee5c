"""Projects and their assets."""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from synapse.db.models import Asset, Project, utcnow
from synapse.errors import InvalidInput, NotFound

PROJECT_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$")


def check_key(key: str) -> str:
    key = key.strip()
    if not PROJECT_KEY.match(key):
        raise InvalidInput(
            "project_id must be 1-100 characters of letters, digits, '.', '_', ':' or '-' "
            f"starting with a letter or digit, not {key[:120]!r}"
        )
    return key


def ensure_project(session: Session, key: str) -> Project:
    """The project with this key; an unknown key creates it (the spec's upload does)."""
    key = check_key(key)
    project = session.scalar(select(Project).where(Project.key == key))
    if project is not None:
        return project
    try:
        with session.begin_nested():
            session.execute(insert(Project).values(key=key, name=key, created_at=utcnow()))
    except IntegrityError:  # created by a concurrent upload meanwhile
        pass
    project = session.scalar(select(Project).where(Project.key == key))
    assert project is not None
    return project


def get_project(session: Session, key: str) -> Project:
    project = session.scalar(select(Project).where(Project.key == key))
    if project is None:
        raise NotFound(f"project {key} not found")
    return project


def list_assets(
    session: Session,
    project: Project,
    *,
    limit: int,
    offset: int,
    asset_type: str | None = None,
    q: str | None = None,
    prop: str | None = None,
) -> tuple[Sequence[Asset], int]:
    """Assets by tag; `q` is tag text, `prop` is `name=value` (that value) or `name` (has it)."""
    query = select(Asset).where(Asset.project_id == project.id)
    if asset_type:
        query = query.where(Asset.type == asset_type)
    if q:
        query = query.where(Asset.tag.contains(q, autoescape=True))
    if prop:
        name, has_value, value = prop.partition("=")
        field = Asset.properties[name.strip()].as_string()
        query = query.where(field == value.strip() if has_value else field.is_not(None))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Asset.tag).limit(limit).offset(offset)).all()
    return rows, total


def list_projects(
    session: Session, *, scope: frozenset[str] | None, limit: int = 1000, offset: int = 0
) -> tuple[list[tuple[Project, int]], int]:
    """Projects (all, or those in `scope`) with their asset counts, by key."""
    counts = (
        select(Asset.project_id, func.count().label("assets")).group_by(Asset.project_id).subquery()
    )
    query = select(Project, func.coalesce(counts.c.assets, 0)).outerjoin(
        counts, counts.c.project_id == Project.id
    )
    total_query = select(func.count()).select_from(Project)
    if scope is not None:
        query = query.where(Project.key.in_(sorted(scope)))
        total_query = total_query.where(Project.key.in_(sorted(scope)))
    rows = session.execute(query.order_by(Project.key).limit(limit).offset(offset)).all()
    return [(project, int(assets)) for project, assets in rows], session.scalar(total_query) or 0
