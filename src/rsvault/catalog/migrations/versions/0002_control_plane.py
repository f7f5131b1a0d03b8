"""Control plane: containers, policies, protected items, job sub-tasks, recovery points.

Existing vault and job rows are kept; new columns get server defaults so old rows read well.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _when(name: str, nullable: bool = True) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _vault_name() -> sa.Column[str]:
    return sa.Column(
        "vault_name",
        sa.String(50),
        sa.ForeignKey("vaults.name", ondelete="CASCADE"),
        nullable=False,
    )


def upgrade() -> None:
    with op.batch_alter_table("vaults") as batch:
        batch.add_column(
            sa.Column("soft_delete_days", sa.Integer(), nullable=False, server_default="14")
        )
        batch.add_column(
            sa.Column("max_concurrent_backups", sa.Integer(), nullable=False, server_default="4")
        )
        batch.add_column(_when("sweep_due"))
    _create_containers_and_policies()
    _create_items()
    _extend_jobs()
    _create_job_tasks()
    _create_recovery_points()


def _create_containers_and_policies() -> None:
    op.create_table(
        "containers",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _vault_name(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("uri", sa.Text()),
        _when("registered", nullable=False),
        sa.Column("max_concurrent_backups", sa.Integer(), nullable=False, server_default="2"),
        sa.UniqueConstraint("vault_name", "name"),
    )
    op.create_table(
        "policies",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _vault_name(),
        sa.Column("name", sa.String(150), nullable=False),
        sa.Column("policy_type", sa.String(20), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        _when("created", nullable=False),
        _when("modified", nullable=False),
        sa.UniqueConstraint("vault_name", "name"),
    )


def _create_items() -> None:
    op.create_table(
        "items",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _vault_name(),
        sa.Column("container_id", sa.Integer(), sa.ForeignKey("containers.id"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("source", sa.JSON(), nullable=False),
        sa.Column("policy_id", sa.Integer(), sa.ForeignKey("policies.id", ondelete="RESTRICT")),
        sa.Column("protection_state", sa.String(30), nullable=False),
        sa.Column("delete_state", sa.String(20), nullable=False, server_default="NotDeleted"),
        _when("deleted_at"),
        _when("purge_at"),
        _when("next_run"),
        _when("last_backup_time"),
        sa.Column("last_backup_status", sa.String(30)),
        sa.Column("last_error_code", sa.String(100)),
        sa.Column("active_job", sa.String(64)),
        _when("created", nullable=False),
        sa.UniqueConstraint("vault_name", "name"),
    )
    for column in ("container_id", "policy_id", "purge_at", "next_run"):
        op.create_index(f"ix_items_{column}", "items", [column])


def _extend_jobs() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(
            sa.Column(
                "item_id",
                sa.Integer(),
                sa.ForeignKey("items.id", ondelete="SET NULL", name="fk_jobs_item_id"),
            )
        )
        batch.add_column(sa.Column("trigger", sa.String(20)))
        batch.add_column(sa.Column("host", sa.String(255)))
        batch.add_column(sa.Column("process_started", sa.Float()))
        batch.add_column(sa.Column("phase", sa.String(40)))
        batch.add_column(
            sa.Column("cancel_requested", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        for counter in ("bytes_read", "bytes_transferred", "bytes_stored"):
            batch.add_column(
                sa.Column(counter, sa.BigInteger(), nullable=False, server_default="0")
            )
    op.create_index("ix_jobs_item_id", "jobs", ["item_id"])
    op.create_index("ix_jobs_vault_start", "jobs", ["vault_name", "start_time"])


def _create_job_tasks() -> None:
    op.create_table(
        "job_tasks",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "job_name",
            sa.String(64),
            sa.ForeignKey("jobs.name", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(60), nullable=False),
        sa.Column("status", sa.String(30), nullable=False),
        _when("start_time"),
        _when("end_time"),
    )
    op.create_index("ix_job_tasks_job_name", "job_tasks", ["job_name"])


def _create_recovery_points() -> None:
    op.create_table(
        "recovery_points",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _vault_name(),
        sa.Column(
            "item_id",
            sa.Integer(),
            sa.ForeignKey("items.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(64), nullable=False),
        _when("time", nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("tier", sa.String(30), nullable=False),
        sa.Column("consistency", sa.String(40), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("stored", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("files", sa.BigInteger(), nullable=False, server_default="0"),
        _when("retain_until"),
        _when("expiry"),
        sa.Column("expiry_reasons", sa.String(120), nullable=False, server_default=""),
        sa.Column("source", sa.JSON(), nullable=False),
        sa.Column("job_name", sa.String(64)),
        sa.UniqueConstraint("vault_name", "name"),
    )
    op.create_index("ix_recovery_points_expiry", "recovery_points", ["expiry"])
    op.create_index("ix_recovery_points_item_time", "recovery_points", ["item_id", "time"])


def downgrade() -> None:
    op.drop_table("recovery_points")
    op.drop_table("job_tasks")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_index("ix_jobs_vault_start")
        batch.drop_index("ix_jobs_item_id")
        batch.drop_constraint("fk_jobs_item_id", type_="foreignkey")
        for column in (
            "bytes_stored",
            "bytes_transferred",
            "bytes_read",
            "cancel_requested",
            "phase",
            "process_started",
            "host",
            "trigger",
            "item_id",
        ):
            batch.drop_column(column)
    op.drop_table("items")
    op.drop_table("policies")
    op.drop_table("containers")
    with op.batch_alter_table("vaults") as batch:
        batch.drop_column("sweep_due")
        batch.drop_column("max_concurrent_backups")
        batch.drop_column("soft_delete_days")
