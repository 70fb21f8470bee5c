"""Backups, reports and pruning: the parts that need no running service."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import pypdf
import pytest

from synapse.config import Settings
from synapse.errors import OperationFailed
from synapse.maintenance import pgtools
from synapse.maintenance.backup_files import backup_name, time_of
from synapse.maintenance.report import Report, Table, percentile
from synapse.maintenance.report_pdf import render_pdf
from synapse.maintenance.report_xlsx import render_xlsx, sheet_name

URL = "postgresql+psycopg://backup:p%40ss:w0rd@db.example:6543/synapse?sslmode=require"


def test_credentials_go_to_the_environment_never_the_command_line() -> None:
    target = pgtools.PgTarget.from_url(URL)
    assert target.password == "p@ss:w0rd"
    assert target.env == {
        "PGHOST": "db.example",
        "PGPORT": "6543",
        "PGUSER": "backup",
        "PGDATABASE": "synapse",
        "PGSSLMODE": "require",
        "PGCONNECT_TIMEOUT": "10",
    }
    assert "p@ss" not in target.display and "***" in target.display
    assert "p@ss" not in repr(target)
    assert target.scrub("FATAL: bad p@ss:w0rd") == "FATAL: bad ***"


def test_the_password_file_is_private_and_gone_afterwards(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGPASSWORD", "inherited")
    target = pgtools.PgTarget.from_url(URL)
    with pgtools.tool_env(target) as env:
        passfile = Path(env["PGPASSFILE"])
        assert stat.S_IMODE(passfile.stat().st_mode) == 0o600
        assert passfile.read_text() == "*:*:*:*:p@ss\\:w0rd\n"
        assert "PGPASSWORD" not in env  # it would win over the file
        assert all("p@ss" not in value for key, value in env.items() if key != "PGPASSFILE")
    assert not passfile.exists()


def test_a_url_without_a_database_is_refused() -> None:
    with pytest.raises(OperationFailed, match="names no database"):
        pgtools.PgTarget.from_url("postgresql://u:secret@h:5432")


def test_a_missing_tool_says_how_to_get_it(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, pg_bin_dir=tmp_path)  # type: ignore[call-arg]
    with pytest.raises(OperationFailed, match="pg_dump was not found in SYNAPSE_PG_BIN_DIR"):
        pgtools.tool(settings, "pg_dump")


def test_a_failing_tool_reports_its_own_message(tmp_path: Path) -> None:
    script = tmp_path / "pg_dump"
    script.write_text(
        "#!/bin/sh\necho 'pg_dump: error: could not write: No space left on device' >&2\nexit 1\n"
    )
    script.chmod(0o755)
    with pytest.raises(OperationFailed) as failed:
        pgtools.run([str(script)], env=dict(os.environ))
    assert str(failed.value) == (
        "pg_dump failed (exit 1): pg_dump: error: could not write: No space left on device"
    )


def test_archive_table_of_contents() -> None:
    listing = (
        ";\n; Archive created at 2026-11-28\n;\n"
        "215; 1259 16390 TABLE public jobs postgres\n"
        "3380; 0 16390 TABLE DATA public jobs postgres\n"
        "3381; 0 16400 TABLE DATA public alembic_version postgres\n"
    )
    assert pgtools.archive_tables(listing) == {"jobs", "alembic_version"}


def test_backup_names_carry_their_utc_time() -> None:
    moment = datetime(2026, 11, 30, 7, 0, 0, 123456, tzinfo=UTC)
    name = backup_name(moment, "postgresql")
    assert name == "synapse-20261130T070000.123Z.dump"
    assert time_of(name) == moment.replace(microsecond=123000)
    assert backup_name(moment, "sqlite").endswith(".db")
    assert time_of("notes.txt") is None and time_of("synapse-2026.db") is None


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50 and percentile(values, 95) == 95
    assert percentile([3.0], 95) == 3.0 and percentile([], 50) == 0.0


def test_sheet_names_are_short_unique_and_legal() -> None:
    taken: set[str] = set()
    first = sheet_name("Jobs by type and state: a very long title", taken)
    again = sheet_name("Jobs by type and state: a very long title", taken)
    assert len(first) <= 31 and ":" not in first and first != again


def sample_report() -> Report:
    now = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    return Report(
        title="SYNAPSE weekly report",
        start=now,
        end=now,
        timezone="America/New_York",
        figures=[("Jobs", "3"), ("Failed", "1")],
        tables=[
            Table("Jobs by type and state", ["Type", "Total"], [["import_csv_assets", 3]]),
            Table("Failures", ["Type", "Error"], [["import_csv_assets", "=HYPERLINK(1) <b>&"]]),
            Table("Durations", ["Type"], [], note="No successful jobs this week."),
        ],
        daily=[("Mon 11-30", 2, 1)],
    )


def test_workbook_has_the_same_tables_and_no_formulas(tmp_path: Path) -> None:
    path = tmp_path / "r.xlsx"
    render_xlsx(sample_report(), path)
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["Summary", "Jobs by type and state", "Failures", "Durations"]
    assert [c.value for c in book["Jobs by type and state"][2]] == ["import_csv_assets", 3]
    cell = book["Failures"]["B2"]
    assert cell.value == "=HYPERLINK(1) <b>&" and cell.data_type == "s"


def test_pdf_renders_text_safely(tmp_path: Path) -> None:
    path = tmp_path / "r.pdf"
    assert render_pdf(sample_report(), path) == 1
    text = " ".join(pypdf.PdfReader(path).pages[0].extract_text().split())
    assert "=HYPERLINK(1) <b>&" in text and "No successful jobs this week." in text
