"""Vaults and jobs.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vaults",
        sa.Column("name", sa.String(50), primary_key=True),
        sa.Column("vault_id", sa.String(64), nullable=False, unique=True),
        sa.Column("store_kind", sa.String(20), nullable=False),
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "jobs",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column(
            "vault_name",
            sa.String(50),
            sa.ForeignKey("vaults.name", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("operation", sa.String(40), nullable=False),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("item", sa.String(200)),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_time", sa.DateTime(timezone=True)),
        sa.Column("error_code", sa.String(100)),
        sa.Column("error_message", sa.Text()),
        sa.Column("recovery_point", sa.String(64)),
        sa.Column("pid", sa.Integer()),
        sa.Column("stats", sa.JSON(), nullable=False),
        sa.Column("warnings", sa.JSON(), nullable=False),
    )
    op.create_index("ix_jobs_vault_name", "jobs", ["vault_name"])
    op.create_index("ix_jobs_status", "jobs", ["status"])
    op.create_index("ix_jobs_start_time", "jobs", ["start_time"])


def downgrade() -> None:
    op.drop_table("jobs")
    op.drop_table("vaults")
