"""What the maintenance jobs share: the progress they report, sizes, table row counts."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Protocol

from sqlalchemy.engine import make_url


class Progress(Protocol):
    """What a maintenance service reports to: a job's `JobRun`, or the CLI."""

    def update_progress(
        self, current: int, total: int, message: str, *, percent: int | None = None
    ) -> None: ...

    def log(self, level: str, message: str) -> None: ...

    def checkpoint(self) -> None: ...


class Quiet:
    """Progress that goes nowhere (services called outside a job)."""

    def update_progress(
        self, current: int, total: int, message: str, *, percent: int | None = None
    ) -> None:
        return None

    def log(self, level: str, message: str) -> None:
        return None

    def checkpoint(self) -> None:
        return None


def human_size(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"  # pragma: no cover


def sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise ValueError("an in-memory SQLite database cannot be backed up or restored")
    return Path(database)


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sqlite_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Rows of every table (names come from the database's own catalogue)."""
    names = [
        row[0]
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY name"
        )
    ]
    return {
        name: int(conn.execute(f"SELECT count(*) FROM {quote_ident(name)}").fetchone()[0])
        for name in names
    }
