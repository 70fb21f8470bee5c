"""Scheduled jobs: `run_at` on the job row, and the index the beat's release reads.

A job submitted with `run_at` / `delay_seconds` is SCHEDULED until then; the beat sends it to its
queue at its time (jobs/scheduled.py). The index on (state, run_at) keeps "the next due jobs"
one range read however many jobs the table holds.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("run_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_jobs_state_run_at", "jobs", ["state", "run_at"])


def downgrade() -> None:
    op.drop_index("ix_jobs_state_run_at", table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("run_at")
