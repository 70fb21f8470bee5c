"""ORM models: projects, assets, jobs, job log lines, row errors, rules, the change ledger,
queue states and the operators' audit trail."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

JSONType = JSON().with_variant(JSONB(), "postgresql")
# SQLite has no BIGSERIAL; INTEGER PRIMARY KEY is its rowid.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every database (SQLite keeps them as naive UTC text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    pass


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Asset(Base):
    __tablename__ = "assets"
    __table_args__ = (UniqueConstraint("project_id", "tag", name="uq_assets_project_tag"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    tag: Mapped[str] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(100))
    properties: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_state_created", "state", "created_at"),
        Index("ix_jobs_created", "created_at"),
        Index("ix_jobs_project", "project_key"),
        Index("ix_jobs_finished", "finished_at"),
        Index("ix_jobs_submitted_by", "submitted_by", "created_at"),
        Index("ix_jobs_type_created", "type", "created_at"),
        Index("ix_jobs_state_finished", "state", "finished_at"),
        Index("ix_jobs_state_run_at", "state", "run_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    project_key: Mapped[str | None] = mapped_column(String(100))
    params: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    queue: Mapped[str] = mapped_column(String(20), default="default")
    state: Mapped[str] = mapped_column(String(20), default="QUEUED")
    percent: Mapped[int] = mapped_column(Integer, default=0)
    current: Mapped[int] = mapped_column(BigInteger, default=0)
    total: Mapped[int] = mapped_column(BigInteger, default=0)
    message: Mapped[str] = mapped_column(Text, default="")
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    error: Mapped[str | None] = mapped_column(Text)
    traceback: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    submitted_by: Mapped[str | None] = mapped_column(String(100))
    retry_of: Mapped[str | None] = mapped_column(String(64))
    worker: Mapped[str | None] = mapped_column(String(200))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lost_count: Mapped[int] = mapped_column(Integer, default=0)
    next_retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When a scheduled job is due (SCHEDULED until then); None for a job queued at once.
    run_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class JobLog(Base):
    __tablename__ = "job_logs"
    __table_args__ = (Index("ix_job_logs_job", "job_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    level: Mapped[str] = mapped_column(String(10))
    message: Mapped[str] = mapped_column(Text)


class JobRowError(Base):
    """One invalid input row of a job (an import's validation errors)."""

    __tablename__ = "job_row_errors"
    __table_args__ = (Index("ix_job_row_errors_job", "job_id", "row"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    row: Mapped[int] = mapped_column(BigInteger)
    column: Mapped[str | None] = mapped_column(String(200))
    value: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)


class StoredFile(Base):
    """A file the system made (package, report, backup, export), kept in the data folder."""

    __tablename__ = "files"
    __table_args__ = (Index("ix_files_job", "job_id"), Index("ix_files_kind", "kind", "created_at"))

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    project_key: Mapped[str | None] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(255))
    path: Mapped[str] = mapped_column(Text)  # relative to the data folder
    size: Mapped[int] = mapped_column(BigInteger)
    media_type: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Rule(Base):
    """A project's rule: when `condition` holds for an asset of `applies_to`, do `action`."""

    __tablename__ = "rules"
    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_rules_project_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    applies_to: Mapped[list[str]] = mapped_column(JSONType, default=list)  # []: every type
    condition: Mapped[str] = mapped_column(Text)
    action: Mapped[dict[str, Any]] = mapped_column(JSONType)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Finding(Base):
    """What a rule found on one asset; a run replaces the findings of the assets it covered."""

    __tablename__ = "findings"
    __table_args__ = (
        Index("ix_findings_project_severity", "project_id", "severity"),
        Index("ix_findings_project_tag", "project_id", "asset_tag"),
        Index("ix_findings_rule", "rule_id", "severity"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # No foreign key here: the rule's (with its cascade from the project) covers it, and each
    # foreign key is a check per inserted row, which a run of 100,000 findings feels.
    project_id: Mapped[int] = mapped_column(Integer)
    rule_id: Mapped[int] = mapped_column(ForeignKey("rules.id", ondelete="CASCADE"))
    asset_tag: Mapped[str] = mapped_column(String(100))
    severity: Mapped[str] = mapped_column(String(10))
    message: Mapped[str] = mapped_column(Text)
    job_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AssetChange(Base):
    """One asset's entry in a job's change ledger (imports, previews, rule `set`s, undos).

    `changes` holds `{field: {"old", "new"}}` for `updated`, `set` and `restored`, and the
    asset's values `{"type", "properties"}` for `created` and `deleted`; `applied` is false for
    a preview, whose ledger shows what a commit would do.
    """

    __tablename__ = "asset_changes"
    __table_args__ = (
        Index("ix_asset_changes_job", "job_id", "row"),
        Index("ix_asset_changes_asset", "project_id", "tag", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    job_id: Mapped[str] = mapped_column(String(64))
    project_id: Mapped[int] = mapped_column(Integer)
    tag: Mapped[str] = mapped_column(String(100))
    row: Mapped[int | None] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(10))
    changes: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    applied: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ImportMapping(Base):
    """The column mapping last used in a project for files with one header layout."""

    __tablename__ = "import_mappings"
    __table_args__ = (
        UniqueConstraint("project_id", "header_key", name="uq_import_mappings_header"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    header_key: Mapped[str] = mapped_column(String(64))
    header: Mapped[list[str]] = mapped_column(JSONType)
    mapping: Mapped[dict[str, str | None]] = mapped_column(JSONType)
    used_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    used_by: Mapped[str | None] = mapped_column(String(100))
    job_id: Mapped[str | None] = mapped_column(String(64))


class PrunedJob(Base):
    """A job the retention pruned: enough to answer "that import is gone" instead of 404."""

    __tablename__ = "pruned_jobs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    project_key: Mapped[str | None] = mapped_column(String(100))
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    pruned_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class QueueState(Base):
    """A queue an admin paused: kept in the database, so the pause holds across restarts of
    workers and of Redis and for workers that join later (docs/queues-and-workers.md)."""

    __tablename__ = "queue_states"

    name: Mapped[str] = mapped_column(String(20), primary_key=True)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    changed_by: Mapped[str | None] = mapped_column(String(100))


class AuditEvent(Base):
    """One operator action: who did what to which target, when, and from where."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_at", "at"),
        Index("ix_audit_events_actor", "actor", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(String(200))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    client: Mapped[str | None] = mapped_column(String(64))


class IdempotencyKey(Base):
    """An `Idempotency-Key` a caller sent with a submitting POST, and the answer it got.

    The row is inserted, alone in its transaction, before the request is processed: the unique
    (principal, key) pair decides which of two concurrent requests runs; the other waits for
    `status_code` and `body` and answers the same (docs/idempotency.md)."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("principal", "key", name="uq_idempotency_keys_principal_key"),
        Index("ix_idempotency_keys_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    principal: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(500))
    status_code: Mapped[int | None] = mapped_column(Integer)
    body: Mapped[str | None] = mapped_column(Text)
    media_type: Mapped[str | None] = mapped_column(String(100))
    job_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Webhook(Base):
    """Where to POST the events an admin subscribed to (docs/webhooks.md). The secret signs
    every body (HMAC-SHA256) and is shown once, when the hook is made."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    events: Mapped[list[str]] = mapped_column(JSONType)
    project_key: Mapped[str | None] = mapped_column(String(100))  # None: every project
    secret: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(100))


class WebhookDelivery(Base):
    """One event for one hook: the exact body, and whether it arrived. The row is the truth;
    a Celery message only says "try it now" (`next_attempt_at`)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("webhook_id", "dedupe_key", name="uq_webhook_deliveries_dedupe"),
        Index("ix_webhook_deliveries_due", "state", "next_attempt_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(40))
    job_id: Mapped[str | None] = mapped_column(String(64))
    dedupe_key: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(12))  # pending, delivered, failed (gave up)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebhookAttempt(Base):
    """One POST of a delivery: its answer (or error), how long it took, and what comes next."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_delivery", "delivery_id", "attempt"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    delivery_id: Mapped[str] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE")
    )
    webhook_id: Mapped[int] = mapped_column(Integer)
    attempt: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    latency_ms: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
