"""Settings for tests of one process on a SQLite file: no environment, no .env, migrated."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from synapse.config import Settings
from synapse.db.migrate import upgrade


def clear_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Drop every SYNAPSE_*, DATABASE_URL and REDIS_URL variable for the test."""
    for name in list(os.environ):
        if name.upper().startswith("SYNAPSE_") or name.upper() in ("DATABASE_URL", "REDIS_URL"):
            monkeypatch.delenv(name)


def sqlite_settings(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, *, migrate: bool = True, **values: Any
) -> Settings:
    """Settings with a SQLite database in `data_dir`, migrated unless `migrate=False`."""
    clear_environment(monkeypatch)
    settings = Settings(data_dir=data_dir, _env_file=None, **values)  # type: ignore[call-arg]
    if migrate:
        upgrade(settings)
    return settings
