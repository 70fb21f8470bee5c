"""Projects, assets, jobs, job log lines and row errors.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(100), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "assets",
        sa.Column("id", BigId, primary_key=True),
        sa.Column(
            "project_id",
            sa.Integer,
            sa.ForeignKey("projects.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("tag", sa.String(100), nullable=False),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("properties", JSONType, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("project_id", "tag", name="uq_assets_project_tag"),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("project_key", sa.String(100)),
        sa.Column("params", JSONType, nullable=False),
        sa.Column("queue", sa.String(20), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("percent", sa.Integer, nullable=False),
        sa.Column("current", sa.BigInteger, nullable=False),
        sa.Column("total", sa.BigInteger, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("result", JSONType),
        sa.Column("error", sa.Text),
        sa.Column("traceback", sa.Text),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("started_at", TS),
        sa.Column("finished_at", TS),
        sa.Column("submitted_by", sa.String(100)),
        sa.Column("retry_of", sa.String(64)),
        sa.Column("worker", sa.String(200)),
    )
    op.create_index("ix_jobs_state_created", "jobs", ["state", "created_at"])
    op.create_index("ix_jobs_created", "jobs", ["created_at"])
    op.create_index("ix_jobs_project", "jobs", ["project_key"])
    op.create_table(
        "job_logs",
        sa.Column("id", BigId, primary_key=True),
        sa.Column(
            "job_id", sa.String(64), sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("at", TS, nullable=False),
        sa.Column("level", sa.String(10), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
    )
    op.create_index("ix_job_logs_job", "job_logs", ["job_id", "id"])
    op.create_table(
        "job_row_errors",
        sa.Column("id", BigId, primary_key=True),
        sa.Column(
            "job_id", sa.String(64), sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("row", sa.BigInteger, nullable=False),
        sa.Column("column", sa.String(200)),
        sa.Column("value", sa.Text),
        sa.Column("reason", sa.Text, nullable=False),
    )
    op.create_index("ix_job_row_errors_job", "job_row_errors", ["job_id", "row"])


def downgrade() -> None:
    op.drop_table("job_row_errors")
    op.drop_table("job_logs")
    op.drop_table("jobs")
    op.drop_table("assets")
    op.drop_table("projects")
