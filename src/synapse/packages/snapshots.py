"""The asset values a package was built from, kept with it, and the previous revision's.

Each package job records, as one of its stored files (gzip'd JSON, written in the same batch as
the workbook and the PDF, so it exists exactly when they do), the values of every asset it
printed: `{"format": 1, "project", "package_type", "revision", "asset_types", "assets":
{tag: {"type", "properties"}}}`. Its file id is `snapshot_file_id` in the job's result.

The previous revision of a new package is the package job of the same project and package type
that finished last with SUCCESS, whose revision differs from the new one and whose snapshot is
still stored (docs/packages.md, "Revisions").
"""

from __future__ import annotations

import gzip
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import select

from synapse.config import Settings
from synapse.db.engine import session_scope
from synapse.db.models import Job
from synapse.errors import NotFound
from synapse.files import absolute_path, get_file
from synapse.packages.data import AssetRow
from synapse.packages.revisions import Values

log = logging.getLogger("synapse.packages")
FORMAT = 1
JOB_TYPE = "generate_package"
MEDIA_TYPE = "application/gzip"
SUFFIX = "_snapshot.json.gz"
BATCH = 200  # earlier jobs read at a time while looking for the previous revision


@dataclass(frozen=True)
class Previous:
    """The previous revision: its job, revision and asset values (tag → values)."""

    job_id: str
    revision: str
    assets: dict[str, Values]


class SnapshotWriter:
    """Streams the assets' values into a gzip'd JSON file as the package reads them."""

    def __init__(self, path: Path, header: dict[str, Any]) -> None:
        self.path = path
        self.out = gzip.GzipFile(path, "wb", compresslevel=6)
        head = orjson.dumps({"format": FORMAT, **header})
        self.out.write(head[:-1] + b',"assets":{')
        self.count = 0

    def add(self, asset: AssetRow) -> None:
        entry = orjson.dumps({"type": asset.type, "properties": asset.properties})
        self.out.write(b"," if self.count else b"")
        self.out.write(orjson.dumps(asset.tag) + b":" + entry)
        self.count += 1

    def close(self) -> None:
        if not self.out.closed:
            self.out.write(b"}}")
            self.out.close()

    def abandon(self) -> None:
        """Close without finishing (the package stopped): the file batch discards it."""
        self.out.close()


def read_snapshot(path: Path) -> dict[str, Any]:
    with gzip.open(path, "rb") as handle:
        data = orjson.loads(handle.read())
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{path.name}: not a package snapshot")
    return data


def _candidates(
    settings: Settings, project_key: str, exclude: str | None
) -> Iterator[tuple[str, Any, Any]]:
    """(id, params, result) of the project's successful package jobs, last finished first."""
    offset = 0
    while True:
        query = (
            select(Job.id, Job.params, Job.result)
            .where(
                Job.type == JOB_TYPE,
                Job.project_key == project_key,
                Job.state == "SUCCESS",
            )
            .order_by(Job.finished_at.desc(), Job.created_at.desc(), Job.id.desc())
            .offset(offset)
            .limit(BATCH)
        )
        with session_scope(settings) as session:
            rows = session.execute(query).all()
        for job_id, params, result in rows:
            if job_id != exclude:
                yield str(job_id), params, result
        if len(rows) < BATCH:
            return
        offset += BATCH


def _load(settings: Settings, file_id: str) -> dict[str, Any] | None:
    try:
        with session_scope(settings) as session:
            path = absolute_path(settings, get_file(session, file_id))
        return read_snapshot(path)
    except (NotFound, OSError, ValueError) as exc:
        log.warning("package snapshot %s cannot be read: %s", file_id, exc)
        return None


def find_previous(
    settings: Settings,
    *,
    project_key: str,
    package_type: str,
    revision: str,
    exclude_job: str | None = None,
) -> Previous | None:
    """The previous revision of a package (see the module's docstring), or None."""
    for job_id, params, result in _candidates(settings, project_key, exclude_job):
        if not isinstance(params, dict) or params.get("package_type") != package_type:
            continue
        if not isinstance(result, dict) or not result.get("snapshot_file_id"):
            continue
        if str(result.get("revision")) == revision:
            continue
        data = _load(settings, str(result["snapshot_file_id"]))
        if data is None:
            continue
        assets = data.get("assets")
        if isinstance(assets, dict):
            return Previous(job_id=job_id, revision=str(result["revision"]), assets=assets)
    return None
