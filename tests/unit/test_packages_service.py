"""run_package on a real SQLite file, with progress recorded instead of published."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from synapse.config import Settings
from synapse.db.engine import session_scope
from synapse.db.models import Asset, StoredFile, utcnow
from synapse.errors import InvalidInput, JobCancelled
from synapse.packages import service
from synapse.packages.options import package_job
from synapse.projects import ensure_project
from tests.support.local import sqlite_settings


class Recorder:
    """Keeps progress; like a job's progress it can write to the database as it goes."""

    def __init__(self, cancel_at: str | None = None, settings: Settings | None = None) -> None:
        self.messages: list[tuple[int, int, str, int | None]] = []
        self.logs: list[str] = []
        self.cancel_at = cancel_at
        self.settings = settings

    def update_progress(
        self, current: int, total: int, message: str, *, percent: int | None = None
    ) -> None:
        self.messages.append((current, total, message, percent))
        if self.settings is not None and len(self.messages) % 25 == 1:
            with session_scope(self.settings) as session:
                ensure_project(session, f"progress-{uuid.uuid4().hex[:8]}")
        if self.cancel_at and message.startswith(self.cancel_at):
            raise JobCancelled("job")

    def log(self, level: str, message: str) -> None:
        self.logs.append(f"{level} {message}")


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    settings = sqlite_settings(tmp_path, monkeypatch)
    with session_scope(settings) as session:
        project = ensure_project(session, "p1")
        ensure_project(session, "empty")
        now = utcnow()
        rows = [
            {
                "project_id": project.id,
                "tag": f"T-{i:04d}",
                "type": ("Motor", "Pump")[i % 2],
                "properties": {"power_kw": str(i), "note": "=1+2" if i == 3 else "ok"},
                "created_at": now,
                "updated_at": now,
            }
            for i in range(300)
        ]
        session.execute(insert(Asset), rows)
    return settings


def stored(settings: Settings) -> list[StoredFile]:
    with session_scope(settings) as session:
        return list(session.scalars(select(StoredFile)))


def left_in_folder(settings: Settings) -> list[str]:
    folder = settings.data_dir / "files" / "package"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_full_package_records_both_files(settings: Settings, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(service, "TICK_SECONDS", 0.0)
    progress = Recorder()
    job = package_job(
        project_key="p1", package_type="full", options={"revision": "C", "title": "IFC"}
    )
    result = service.run_package(settings, job, progress)

    assert result["asset_count"] == 300
    assert result["asset_types"] == {"Motor": 150, "Pump": 150}
    names = [f["name"] for f in result["files"]]
    assert [n.startswith("p1_full_rev-C_") for n in names] == [True, True]
    assert [Path(n).suffix for n in names] == [".xlsx", ".pdf"]
    assert {f["media_type"] for f in result["files"]} == {
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/pdf",
    }
    assert sorted(f.id for f in stored(settings)) == sorted(f["id"] for f in result["files"])
    assert all(not name.startswith(".") for name in left_in_folder(settings))
    messages = [m[2] for m in progress.messages]
    assert any(m.startswith("Writing Excel... ") and m.endswith(" rows") for m in messages)
    pdf = [m for m in progress.messages if m[2].startswith("Generating PDF... ")]
    assert pdf[-1][0] == pdf[-1][1] == result["pages"]
    assert pdf[-1][2] == f"Generating PDF... {result['pages']}/{result['pages']} pages"
    percents = [m[3] for m in progress.messages if m[3] is not None]
    assert percents == sorted(percents) and percents[-1] == 100


def test_asset_type_filter_and_one_format(settings: Settings):
    progress = Recorder()
    job = package_job(
        project_key="p1",
        package_type="instrument_index",
        options={"formats": ["xlsx"], "asset_types": ["Pump", "Fan"]},
    )
    result = service.run_package(settings, job, progress)
    assert result["asset_count"] == 150 and result["pages"] == 0
    assert [f["name"][-5:] for f in result["files"]] == [".xlsx"]
    assert progress.logs == ["WARNING No assets of type Fan in the project"]


def test_no_assets_is_a_clear_failure_and_no_file(settings: Settings):
    job = package_job(project_key="empty", package_type="full", options={})
    with pytest.raises(InvalidInput, match=r"^project has no assets"):
        service.run_package(settings, job, Recorder())
    job = package_job(project_key="p1", package_type="full", options={"asset_types": ["Fan"]})
    with pytest.raises(InvalidInput, match="project has no assets of type Fan"):
        service.run_package(settings, job, Recorder())
    assert stored(settings) == [] and left_in_folder(settings) == []


@pytest.mark.parametrize("phase", ["Writing Excel", "Generating PDF", "Saving files"])
def test_cancel_leaves_no_file(settings: Settings, monkeypatch: pytest.MonkeyPatch, phase: str):
    monkeypatch.setattr(service, "TICK_SECONDS", 0.0)
    job = package_job(project_key="p1", package_type="full", options={})
    with pytest.raises(JobCancelled):
        service.run_package(settings, job, Recorder(cancel_at=phase, settings=settings))
    assert stored(settings) == []
    assert left_in_folder(settings) == []  # no half file, no temporary rows of the workbook
    # The snapshot's read transaction ended with the job: the next writer is not locked out.
    for _ in range(5):
        with session_scope(settings) as session:
            ensure_project(session, f"after-{uuid.uuid4().hex[:6]}")
