"""The operator's console: queue states (pause/resume), the audit trail, indexes for the
dashboard's windows, the Job Queue's `submitted_by` filter and sections, and look-ups by type.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "queue_states",
        sa.Column("name", sa.String(20), primary_key=True),
        sa.Column("paused", sa.Boolean, nullable=False),
        sa.Column("changed_at", TS, nullable=False),
        sa.Column("changed_by", sa.String(100)),
    )
    op.create_table(
        "audit_events",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("detail", JSONType, nullable=False),
        sa.Column("client", sa.String(64)),
    )
    op.create_index("ix_audit_events_at", "audit_events", ["at"])
    op.create_index("ix_audit_events_actor", "audit_events", ["actor", "at"])
    op.create_index("ix_jobs_finished", "jobs", ["finished_at"])
    op.create_index("ix_jobs_submitted_by", "jobs", ["submitted_by", "created_at"])
    # The Job Queue's sections by end time, and the schedule's and reports' look-ups by type.
    op.create_index("ix_jobs_type_created", "jobs", ["type", "created_at"])
    op.create_index("ix_jobs_state_finished", "jobs", ["state", "finished_at"])
    if op.get_bind().dialect.name == "postgresql":
        # `id LIKE '3fbc5700%'` (the Job Queue's search by the id the lists show) can use a
        # b-tree only in byte order; SQLite's primary key serves it as it is.
        op.create_index(
            "ix_jobs_id_pattern", "jobs", ["id"], postgresql_ops={"id": "varchar_pattern_ops"}
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_jobs_id_pattern", "jobs")
    op.drop_index("ix_jobs_state_finished", "jobs")
    op.drop_index("ix_jobs_type_created", "jobs")
    op.drop_index("ix_jobs_submitted_by", "jobs")
    op.drop_index("ix_jobs_finished", "jobs")
    op.drop_index("ix_audit_events_actor", "audit_events")
    op.drop_index("ix_audit_events_at", "audit_events")
    op.drop_table("audit_events")
    op.drop_table("queue_states")
