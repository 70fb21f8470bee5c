"""Rules of a project and the findings of their runs.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "rules",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "project_id",
            sa.Integer,
            sa.ForeignKey("projects.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("applies_to", JSONType, nullable=False),
        sa.Column("condition", sa.Text, nullable=False),
        sa.Column("action", JSONType, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("project_id", "name", name="uq_rules_project_name"),
    )
    op.create_table(
        "findings",
        sa.Column("id", BigId, primary_key=True),
        # The project's findings go with its rules (rules.project_id cascades, then rule_id).
        sa.Column("project_id", sa.Integer, nullable=False),
        sa.Column(
            "rule_id", sa.Integer, sa.ForeignKey("rules.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("asset_tag", sa.String(100), nullable=False),
        sa.Column("severity", sa.String(10), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("job_id", sa.String(64)),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_findings_project_severity", "findings", ["project_id", "severity"])
    op.create_index("ix_findings_project_tag", "findings", ["project_id", "asset_tag"])
    op.create_index("ix_findings_rule", "findings", ["rule_id", "severity"])


def downgrade() -> None:
    op.drop_table("findings")
    op.drop_table("rules")
