"""One settings object, read from the environment (and an optional `.env`)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from synapse.auth import TokenEntry, parse_tokens

QUEUES = ("urgent", "default", "bulk")
MAX_SOCKET_PATH = 100


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SYNAPSE_", env_file=".env", extra="ignore", populate_by_name=True
    )

    data_dir: Path = Path("var")
    host: str = "127.0.0.1"
    port: int = 8001
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "SYNAPSE_DATABASE_URL")
    )
    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("REDIS_URL", "SYNAPSE_REDIS_URL")
    )
    timezone: str = "America/New_York"
    max_upload_mb: int = Field(default=50, ge=1)
    api_tokens: str = ""
    worker_concurrency: int = Field(default=2, ge=1)
    # Redis keys and the pub/sub channel are namespaced so that several systems can share a server.
    redis_prefix: str = "synapse"
    # Progress is published on every update; the database copy is written at most this often.
    progress_db_interval: float = Field(default=0.5, ge=0)
    # Lease of a delivered job message: Redis hands it to another worker when the worker holding
    # it stops renewing it for this long (a live worker renews it every heartbeat).
    visibility_timeout: int = Field(default=300, ge=3)
    # How often a running job proves it is alive (database heartbeat and message lease).
    heartbeat_interval: float = Field(default=10.0, gt=0)
    # How often each worker looks for messages whose lease ran out.
    restore_interval: int = Field(default=10, ge=1)
    # Automatic retry of transient faults: attempts after the first, and the backoff.
    retry_max: int = Field(default=5, ge=0)
    retry_backoff: float = Field(default=2.0, gt=0)
    retry_backoff_max: float = Field(default=60.0, gt=0)
    # A job whose worker dies this many times in a row is failed ("worker lost repeatedly").
    worker_lost_limit: int = Field(default=3, ge=1)
    # Extra modules with tasks for the worker to load (plugins; the fault tests use it).
    task_modules: str = ""
    log_level: str = "INFO"
    # One log format for api, worker and beat: `text` for people, `json` (a line each) for machines.
    log_format: Literal["text", "json"] = "text"
    # The CLI's client commands (`synapse import`, `synapse jobs`) call this API with this token.
    api_url: str = "http://127.0.0.1:8001"
    token: str = Field(default="", repr=False)
    # Scheduled maintenance (docs/operations.md). Schedules are cron text (5 fields, read in
    # SYNAPSE_TIMEZONE) or `every N[s|m|h]`; `off` disables an entry. They are checked where
    # they are used, when every process starts (maintenance.schedule.planned).
    schedule_backup: str = "0 2 * * *"
    schedule_report: str = "0 8 * * 1"
    schedule_prune: str = "30 3 * * *"
    # Only one beat sends: the others stand by until the leader's lock runs out (seconds).
    beat_lock_ttl: float = Field(default=30.0, ge=2)
    # Backups: where (default <data>/backups), how many to keep, and the database pg_dump reads
    # when it is not DATABASE_URL (a read-only backup role, say); pg_dump/pg_restore's folder.
    backup_dir: Path | None = None
    backup_keep: int = Field(default=7, ge=1)
    backup_database_url: str | None = Field(default=None, repr=False)
    pg_bin_dir: Path | None = None
    # Packages across workers (docs/packages.md): a PDF of more datasheets than this is drawn
    # in chunks of this many assets by every free worker process, then merged; 0: one process.
    package_chunk_size: int = Field(default=500, ge=0)
    # A chunk whose renderer stops renewing its claim for this long is taken over (seconds).
    package_chunk_lease: float = Field(default=30.0, ge=1)
    # Fair share (docs/fair-share.md): no project holds more worker slots at once than this;
    # unset or 0: half the slots of the live workers (at least 1).
    project_concurrency: int | None = Field(default=None, ge=0)
    # A scheduled job queued this many seconds after its run_at was missed (docs/scheduled-jobs.md).
    schedule_missed_after: float = Field(default=10.0, ge=1)
    # Finished jobs older than this are deleted with their logs, uploads and files.
    job_retention_days: int = Field(default=30, ge=1)
    # The operators' audit trail is kept longer than the jobs it names.
    audit_retention_days: int = Field(default=365, ge=1)
    # Webhooks (docs/webhooks.md): URLs that resolve to private, loopback, link-local, multicast
    # or reserved addresses are refused unless this is true; each POST's timeout (seconds); the
    # retry backoff (doubling from SYNAPSE_WEBHOOK_BACKOFF up to SYNAPSE_WEBHOOK_BACKOFF_MAX);
    # a delivery that got no 2xx for SYNAPSE_WEBHOOK_MAX_AGE seconds (at most 24 h) is given up.
    webhook_allow_private: bool = False
    webhook_timeout: float = Field(default=10.0, gt=0, le=60)
    webhook_backoff: float = Field(default=10.0, gt=0)
    webhook_backoff_max: float = Field(default=3600.0, gt=0)
    webhook_max_age: float = Field(default=86400.0, gt=0, le=86400)

    @model_validator(mode="after")
    def _tokens_parse(self) -> Settings:
        parse_tokens(self.api_tokens)  # a malformed entry stops every process at start
        return self

    @field_validator(
        "backup_dir", "pg_bin_dir", "backup_database_url", "project_concurrency", mode="before"
    )
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (an IANA name: America/New_York)"
            ) from None
        return value

    @model_validator(mode="after")
    def _lease_outlives_heartbeat(self) -> Settings:
        if self.heartbeat_interval * 3 > self.visibility_timeout:
            raise ValueError(
                "SYNAPSE_VISIBILITY_TIMEOUT must be at least 3 x SYNAPSE_HEARTBEAT_INTERVAL "
                f"({self.visibility_timeout} < 3 x {self.heartbeat_interval})"
            )
        if self.retry_backoff_max * 2 > self.visibility_timeout:
            raise ValueError(
                "SYNAPSE_RETRY_BACKOFF_MAX must be at most half of SYNAPSE_VISIBILITY_TIMEOUT"
            )
        return self

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("database_url")
    @classmethod
    def _driver(cls, value: str | None) -> str | None:
        if not value:
            return None
        # The spec's compose file writes postgresql://; we speak psycopg 3.
        for plain in ("postgresql://", "postgres://"):
            if value.startswith(plain):
                return "postgresql+psycopg://" + value[len(plain) :]
        return value

    @field_validator("redis_url")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return value or None

    # -- derived values -------------------------------------------------------------------

    @property
    def embedded_redis(self) -> bool:
        return self.redis_url is None

    @property
    def redis_socket(self) -> Path:
        path = self.data_dir / "redis" / "redis.sock"
        if len(os.fsencode(path)) > MAX_SOCKET_PATH:  # the kernel limits socket paths (bytes)
            digest = hashlib.sha1(str(self.data_dir).encode()).hexdigest()[:12]
            path = Path(tempfile.gettempdir()) / f"synapse-{digest}.sock"
        return path

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'synapse.db'}"

    @property
    def effective_redis_url(self) -> str:
        """URL for redis-py clients."""
        return self.redis_url or f"unix://{self.redis_socket}"

    @property
    def celery_broker_url(self) -> str:
        """Kombu spells a unix socket redis+socket://."""
        url = self.effective_redis_url
        if url.startswith("unix://"):
            return "redis+socket://" + url[len("unix://") :]
        return url

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def backups_dir(self) -> Path:
        return (self.backup_dir or self.data_dir / "backups").expanduser().resolve()

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024

    @property
    def tokens(self) -> list[TokenEntry]:
        return parse_tokens(self.api_tokens)

    @property
    def stale_after(self) -> float:
        """A RUNNING job whose heartbeat is older than this was abandoned by its worker."""
        return self.heartbeat_interval * 3

    @property
    def events_channel(self) -> str:
        return f"{self.redis_prefix}:events"


@lru_cache
def get_settings() -> Settings:
    return Settings()
