"""Imports people can trust: the change ledger, remembered column mappings, pruned-job marks.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    # No foreign key to jobs: a check per row would cost an import of 1,000,000 rows seconds;
    # the ledger goes with its job in the pruning, like the findings go with their rule.
    op.create_table(
        "asset_changes",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("job_id", sa.String(64), nullable=False),
        sa.Column("project_id", sa.Integer, nullable=False),
        sa.Column("tag", sa.String(100), nullable=False),
        sa.Column("row", sa.BigInteger),
        sa.Column("action", sa.String(10), nullable=False),
        sa.Column("changes", JSONType),
        sa.Column("applied", sa.Boolean, nullable=False),
        sa.Column("at", TS, nullable=False),
    )
    op.create_index("ix_asset_changes_job", "asset_changes", ["job_id", "row"])
    op.create_index("ix_asset_changes_asset", "asset_changes", ["project_id", "tag", "id"])
    op.create_table(
        "import_mappings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "project_id",
            sa.Integer,
            sa.ForeignKey("projects.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("header_key", sa.String(64), nullable=False),
        sa.Column("header", JSONType, nullable=False),
        sa.Column("mapping", JSONType, nullable=False),
        sa.Column("used_at", TS, nullable=False),
        sa.Column("used_by", sa.String(100)),
        sa.Column("job_id", sa.String(64)),
        sa.UniqueConstraint("project_id", "header_key", name="uq_import_mappings_header"),
    )
    op.create_table(
        "pruned_jobs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("project_key", sa.String(100)),
        sa.Column("finished_at", TS),
        sa.Column("pruned_at", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("pruned_jobs")
    op.drop_table("import_mappings")
    op.drop_index("ix_asset_changes_asset", "asset_changes")
    op.drop_index("ix_asset_changes_job", "asset_changes")
    op.drop_table("asset_changes")
