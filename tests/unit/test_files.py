"""write_files on a real SQLite file: all of a job's files listed, or none."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from synapse.config import Settings
from synapse.db.engine import session_scope
from synapse.db.models import StoredFile
from synapse.files import write_file, write_files
from tests.support.local import sqlite_settings


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    return sqlite_settings(tmp_path, monkeypatch)


def listed(settings: Settings) -> list[str]:
    with session_scope(settings) as session:
        return sorted(session.scalars(select(StoredFile.name)))


def on_disk(settings: Settings) -> list[str]:
    folder = settings.data_dir / "files" / "package"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_every_file_is_recorded_together(settings: Settings) -> None:
    with write_files(settings, kind="package", job_id=None, project_key="p") as batch:
        a, a_record = batch.add("../Index (rev B).xlsx")
        a.path.write_bytes(b"x" * 10)
        b, b_record = batch.add("sheets.pdf")
        b.path.write_bytes(b"%PDF")
        assert listed(settings) == [] and not a_record  # nothing listed before the end
    assert listed(settings) == ["Index _rev B_.xlsx", "sheets.pdf"]
    assert a_record["size"] == 10 and b_record["media_type"] == "application/pdf"
    assert on_disk(settings) == sorted([f"{a.id}.xlsx", f"{b.id}.pdf"])


def test_an_error_in_the_second_file_keeps_neither(settings: Settings) -> None:
    with (
        pytest.raises(RuntimeError),
        write_files(settings, kind="package", job_id=None, project_key="p") as batch,
    ):
        first, _ = batch.add("a.xlsx")
        first.path.write_bytes(b"done")
        second, _ = batch.add("b.pdf")
        second.path.write_bytes(b"half")
        raise RuntimeError("cancelled mid-PDF")
    assert listed(settings) == [] and on_disk(settings) == []


def test_a_failed_record_keeps_no_file(settings: Settings) -> None:
    # The job does not exist: the foreign key refuses the rows when they are committed.
    with (
        pytest.raises(IntegrityError),
        write_file(settings, kind="package", name="a.pdf", job_id="gone", project_key="p") as (
            pending,
            _,
        ),
    ):
        pending.path.write_bytes(b"%PDF")
    assert listed(settings) == [] and on_disk(settings) == []
