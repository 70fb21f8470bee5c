"""The import benchmark's inputs: generated asset files (CSV, the .xlsx workbook) and the scratch
databases each measurement runs in (SQLite in a temporary folder, PostgreSQL created and dropped
on a server)."""

from __future__ import annotations

import csv
import datetime
import random
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from common import Quiet, drop_postgres, scratch_postgres
from synapse.config import Settings
from synapse.db.engine import dispose_engines, session_scope
from synapse.db.migrate import upgrade
from synapse.imports.service import ImportRequest, run_import
from synapse.projects import ensure_project

TYPES = ("Motor", "Pump", "Transmitter", "Valve", "Heat Exchanger", "Compressor")
MAKERS = ("ABB", "Siemens", "Emerson", "Yokogawa", "Flowserve", "Grundfos")
HEADER = ["tag", "type", "power_kw", "voltage", "area", "manufacturer", "model", "description"]
XLSX_HEADER = [
    "Tag No.",
    "Equipment Type",
    "Rated Power [kW]",
    "Signal",
    "Installed",
    "In service",
    "Load",
    "Count",
]
CHANGE_EVERY = 10  # the update file changes every 10th row


# -- data ---------------------------------------------------------------------------------


def generate(path: Path, rows: int, *, change_every: int = 0, seed: int = 7) -> None:
    """Realistic asset rows (8 columns, quoted commas). With `change_every`, the same file with
    the power of every n-th row changed (one property of 1 row in n)."""
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(HEADER)
        for i in range(rows):
            kind = TYPES[i % len(TYPES)]
            power = rng.uniform(0.5, 250)
            if change_every and i % change_every == 0:
                power += 1.0
            out.writerow(
                [
                    f"{kind[:2].upper()}-{100000 + i}",
                    kind,
                    f"{power:.1f}",
                    rng.choice(("400", "690", "6600")),
                    f"A{rng.randint(1, 40):02d}",
                    rng.choice(MAKERS),
                    f"M{rng.randint(100, 999)}",
                    f"{kind} for unit {i % 97}, line {i % 13}" if i % 5 == 0 else f"{kind} {i}",
                ]
            )


def generate_xlsx(path: Path, rows: int) -> None:
    """A workbook as engineers send them: a 2-row title block, the header on row 3, then
    `rows` rows of 8 typed columns (text, repeated text, float, text, date, boolean, percent,
    integer), strings shared as Excel writes them."""
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Instrument index")
    title = book.add_format({"bold": True, "font_size": 14})
    day = book.add_format({"num_format": "yyyy-mm-dd"})
    percent = book.add_format({"num_format": "0%"})
    sheet.write_string(0, 0, "Instrument index, unit 100", title)
    sheet.write_string(1, 0, "Rev. C, issued for construction, 2026-11-30")
    sheet.write_row(2, 0, XLSX_HEADER)
    start = datetime.date(2020, 1, 1)
    for i in range(rows):
        r, kind = i + 3, TYPES[i % len(TYPES)]
        sheet.write_string(r, 0, f"{kind[:2].upper()}-{100000 + i}")
        sheet.write_string(r, 1, kind)
        sheet.write_number(r, 2, i % 90 + 0.5)
        sheet.write_string(r, 3, "4–20 mA")
        sheet.write_datetime(r, 4, start + datetime.timedelta(days=i % 2000), day)
        sheet.write_boolean(r, 5, i % 3 == 0)
        sheet.write_number(r, 6, (i % 100) / 100, percent)
        sheet.write_number(r, 7, i)
    book.close()


# -- databases ----------------------------------------------------------------------------


def settings_for(data_dir: Path, database_url: str | None) -> Settings:
    settings = Settings(_env_file=None, data_dir=data_dir, database_url=database_url)  # type: ignore[call-arg]
    upgrade(settings)
    return settings


def project_id(settings: Settings, key: str | None = None) -> int:
    with session_scope(settings) as db:
        return ensure_project(db, key or f"raw-{uuid.uuid4().hex[:8]}").id


def count_assets(settings: Settings, key: str) -> int:
    from sqlalchemy import func, select

    from synapse.db.models import Asset, Project

    with session_scope(settings) as db:
        query = select(func.count()).select_from(Asset).join(Project).where(Project.key == key)
        return int(db.scalar(query) or 0)


def reset() -> None:
    dispose_engines()


@dataclass
class Database:
    """Where measurements run: SQLite (`admin` None) or PostgreSQL (`admin`: a server URL)."""

    name: str
    work: Path
    admin: str | None = None
    warm_up: Path | None = None  # a small file imported into each fresh database, untimed

    @contextmanager
    def fresh(self, label: str) -> Iterator[Settings]:
        """A new, migrated, empty database for one measurement, removed afterwards (so no
        earlier run's rows, autovacuum or WAL weigh on the next)."""
        folder = self.work / f"{self.name}-{label}-{uuid.uuid4().hex[:6]}"
        url = scratch_postgres(self.admin, required=True) if self.admin else None
        try:
            settings = settings_for(folder, url)
            if self.warm_up is not None:  # connections, caches and lazy imports warmed up
                run_import(settings, ImportRequest("warm-up", self.warm_up), Quiet())
            yield settings
        finally:
            reset()
            if url and self.admin:
                drop_postgres(self.admin, url)
            shutil.rmtree(folder, ignore_errors=True)
