"""Unit tests of synapse.config.Settings, independent of the environment and any .env file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from synapse.config import MAX_SOCKET_PATH, Settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("SYNAPSE_") or name.upper() in ("DATABASE_URL", "REDIS_URL"):
            monkeypatch.delenv(name)


def make(data_dir: Path, **kwargs: Any) -> Settings:
    return Settings(data_dir=data_dir, _env_file=None, **kwargs)


# -- database URL ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:p@db:5432/synapse", "postgresql+psycopg://u:p@db:5432/synapse"),
        ("postgres://u:p@db:5432/synapse", "postgresql+psycopg://u:p@db:5432/synapse"),
        (
            "postgresql://localhost/x?sslmode=require",
            "postgresql+psycopg://localhost/x?sslmode=require",
        ),
        ("postgresql+psycopg://u@h/d", "postgresql+psycopg://u@h/d"),
        ("postgresql+psycopg2://u@h/d", "postgresql+psycopg2://u@h/d"),
        ("sqlite:////var/lib/synapse.db", "sqlite:////var/lib/synapse.db"),
    ],
)
def test_database_url_driver(tmp_path: Path, url: str, expected: str) -> None:
    settings = make(tmp_path, database_url=url)
    assert settings.database_url == expected
    assert settings.effective_database_url == expected


@pytest.mark.parametrize("name", ["DATABASE_URL", "SYNAPSE_DATABASE_URL"])
def test_database_url_from_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv(name, "postgres://u:p@db/synapse")
    settings = make(tmp_path)
    assert settings.database_url == "postgresql+psycopg://u:p@db/synapse"
    assert not settings.is_sqlite


def test_database_url_by_alias(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, DATABASE_URL="postgresql://h/d", _env_file=None)
    assert settings.database_url == "postgresql+psycopg://h/d"


def test_default_database_is_sqlite_in_data_dir(tmp_path: Path) -> None:
    settings = make(tmp_path)
    assert settings.database_url is None
    assert settings.effective_database_url == f"sqlite:///{tmp_path.resolve() / 'synapse.db'}"
    assert settings.is_sqlite


def test_empty_database_url_means_default(tmp_path: Path) -> None:
    settings = make(tmp_path, database_url="")
    assert settings.database_url is None
    assert settings.is_sqlite


# -- data dir -------------------------------------------------------------------------------


def test_data_dir_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = make(Path("var"))
    assert settings.data_dir.is_absolute()
    assert settings.data_dir == (tmp_path / "var").resolve()
    assert settings.uploads_dir == settings.data_dir / "uploads"


def test_data_dir_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNAPSE_DATA_DIR", str(tmp_path / "env-dir"))
    settings = Settings(_env_file=None)
    assert settings.data_dir == (tmp_path / "env-dir").resolve()


# -- redis ----------------------------------------------------------------------------------


def test_default_redis_is_embedded_unix_socket(tmp_path: Path) -> None:
    settings = make(tmp_path)
    socket = tmp_path.resolve() / "redis" / "redis.sock"
    assert settings.redis_url is None
    assert settings.embedded_redis
    assert settings.redis_socket == socket
    assert settings.effective_redis_url == f"unix://{socket}"
    assert settings.effective_redis_url.endswith("redis.sock")
    assert settings.celery_broker_url == f"redis+socket://{socket}"


@pytest.mark.parametrize("name", ["REDIS_URL", "SYNAPSE_REDIS_URL"])
def test_redis_url_from_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv(name, "redis://cache:6379/0")
    settings = make(tmp_path)
    assert not settings.embedded_redis
    assert settings.effective_redis_url == "redis://cache:6379/0"
    assert settings.celery_broker_url == "redis://cache:6379/0"


def test_empty_redis_url_means_embedded(tmp_path: Path) -> None:
    settings = make(tmp_path, redis_url="")
    assert settings.redis_url is None
    assert settings.embedded_redis
    assert settings.effective_redis_url.startswith("unix://")


def test_explicit_unix_redis_url_becomes_redis_socket_for_celery(tmp_path: Path) -> None:
    settings = make(tmp_path, redis_url="unix:///run/redis/redis.sock")
    assert not settings.embedded_redis
    assert settings.effective_redis_url == "unix:///run/redis/redis.sock"
    assert settings.celery_broker_url == "redis+socket:///run/redis/redis.sock"


@pytest.mark.parametrize("url", ["redis://localhost:6379/1", "rediss://h:6380/0"])
def test_network_redis_url_unchanged_for_celery(tmp_path: Path, url: str) -> None:
    assert make(tmp_path, redis_url=url).celery_broker_url == url


def _long_dir(tmp_path: Path, name: str = "d") -> Path:
    path = tmp_path.resolve() / ("x" * 60) / ("y" * 60) / name
    assert len(str(path / "redis" / "redis.sock")) > MAX_SOCKET_PATH
    return path


def test_long_data_dir_gives_short_stable_socket(tmp_path: Path) -> None:
    data_dir = _long_dir(tmp_path)
    first = make(data_dir).redis_socket
    assert len(str(first)) <= MAX_SOCKET_PATH
    assert MAX_SOCKET_PATH == 100
    assert first.name.endswith(".sock")
    assert first.parent == Path(tempfile.gettempdir())
    # Stable: the same data dir always gives the same socket.
    assert make(data_dir).redis_socket == first
    assert make(data_dir).effective_redis_url == f"unix://{first}"
    assert make(data_dir).celery_broker_url == f"redis+socket://{first}"


def test_long_data_dirs_get_different_sockets(tmp_path: Path) -> None:
    one = make(_long_dir(tmp_path, "one")).redis_socket
    two = make(_long_dir(tmp_path, "two")).redis_socket
    assert one != two


def test_socket_path_at_the_limit_stays_in_data_dir(tmp_path: Path) -> None:
    base = tmp_path.resolve()
    suffix = len("/redis/redis.sock")
    data_dir = base / ("z" * (MAX_SOCKET_PATH - len(str(base)) - suffix - 1))
    socket = make(data_dir).redis_socket
    assert len(str(socket)) == MAX_SOCKET_PATH
    assert socket == data_dir / "redis" / "redis.sock"


def test_socket_path_limit_counts_bytes_not_characters() -> None:
    """The kernel limits the encoded path (108 bytes on Linux); non-ASCII names take more."""
    # Nothing is created on disk: a short absolute path keeps the test independent of tmp_path.
    settings = make(Path("/工場") / ("工場データ" * 8))  # 61 characters, 145 bytes in UTF-8
    assert len(str(settings.data_dir / "redis" / "redis.sock")) <= MAX_SOCKET_PATH
    assert len(os.fsencode(settings.data_dir / "redis" / "redis.sock")) > 107
    socket = settings.redis_socket
    assert len(os.fsencode(socket)) <= MAX_SOCKET_PATH


# -- other derived values and checks ---------------------------------------------------------


def test_defaults(tmp_path: Path) -> None:
    settings = make(tmp_path)
    assert settings.max_upload_bytes == 50 * 1024 * 1024
    assert settings.events_channel == "synapse:events"
    assert settings.stale_after == settings.heartbeat_interval * 3


def test_max_upload_bytes(tmp_path: Path) -> None:
    assert make(tmp_path, max_upload_mb=1).max_upload_bytes == 1024 * 1024


def test_events_channel_uses_prefix(tmp_path: Path) -> None:
    assert make(tmp_path, redis_prefix="plant7").events_channel == "plant7:events"


def test_max_upload_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        make(tmp_path, max_upload_mb=0)


def test_visibility_timeout_must_outlive_three_heartbeats(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="VISIBILITY_TIMEOUT"):
        make(tmp_path, heartbeat_interval=10, visibility_timeout=29, retry_backoff_max=5)
    make(tmp_path, heartbeat_interval=10, visibility_timeout=30, retry_backoff_max=5)


def test_retry_backoff_max_at_most_half_visibility_timeout(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="RETRY_BACKOFF_MAX"):
        make(tmp_path, visibility_timeout=100, heartbeat_interval=1, retry_backoff_max=51)
    make(tmp_path, visibility_timeout=100, heartbeat_interval=1, retry_backoff_max=50)


# -- .env.example -----------------------------------------------------------------------------


def test_env_example_names_every_setting_with_its_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    example = Path(__file__).resolve().parents[2] / ".env.example"
    names = {
        line.split("=", 1)[0]
        for line in example.read_text().splitlines()
        if line and not line.startswith("#")
    }
    for name, field in Settings.model_fields.items():
        aliases = getattr(field.validation_alias, "choices", None) or [f"SYNAPSE_{name.upper()}"]
        assert names & {str(a) for a in aliases}, f"{name} is missing from .env.example"
    # Read as an env file, the example gives the defaults (the data folder resolved alike).
    monkeypatch.chdir(tmp_path)
    from_example = Settings(_env_file=example)
    defaults = Settings(_env_file=None)
    assert from_example.model_dump() == defaults.model_dump()
