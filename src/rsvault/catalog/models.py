"""Catalog tables. Vault object ids are opaque strings here: the catalog never reads a vault.

The catalog is the control plane's memory (items, policies, jobs, recovery points with their
expiry); the vault's manifests stay the truth about what data exists. Write ordering puts the
manifest first, so a catalog row never names a recovery point that does not exist.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from rsvault.catalog.types import UtcDateTime


class Base(DeclarativeBase):
    pass


class VaultRow(Base):
    __tablename__ = "vaults"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    vault_id: Mapped[str] = mapped_column(String(64), unique=True)
    store_kind: Mapped[str] = mapped_column(String(20), default="local")
    location: Mapped[str] = mapped_column(Text)
    created: Mapped[datetime] = mapped_column(UtcDateTime)
    soft_delete_days: Mapped[int] = mapped_column(Integer, default=14)
    max_concurrent_backups: Mapped[int] = mapped_column(Integer, default=4)
    # When packs a prune condemned may be swept: the scheduler prunes again then.
    sweep_due: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class ContainerRow(Base):
    """A machine whose data is protected: this server, or (later) a hypervisor."""

    __tablename__ = "containers"
    __table_args__ = (UniqueConstraint("vault_name", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    vault_name: Mapped[str] = mapped_column(ForeignKey("vaults.name", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    uri: Mapped[str | None] = mapped_column(Text, nullable=True)
    registered: Mapped[datetime] = mapped_column(UtcDateTime)
    max_concurrent_backups: Mapped[int] = mapped_column(Integer, default=2)


class PolicyRow(Base):
    __tablename__ = "policies"
    __table_args__ = (UniqueConstraint("vault_name", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    vault_name: Mapped[str] = mapped_column(ForeignKey("vaults.name", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(150))
    policy_type: Mapped[str] = mapped_column(String(20))
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    created: Mapped[datetime] = mapped_column(UtcDateTime)
    modified: Mapped[datetime] = mapped_column(UtcDateTime)


class ItemRow(Base):
    """A protected item. `active_job` is the one-operation-per-item lock."""

    __tablename__ = "items"
    __table_args__ = (UniqueConstraint("vault_name", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    vault_name: Mapped[str] = mapped_column(ForeignKey("vaults.name", ondelete="CASCADE"))
    container_id: Mapped[int] = mapped_column(ForeignKey("containers.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(10))
    source: Mapped[dict[str, Any]] = mapped_column(JSON)
    policy_id: Mapped[int | None] = mapped_column(
        ForeignKey("policies.id", ondelete="RESTRICT"), nullable=True, index=True
    )
    protection_state: Mapped[str] = mapped_column(String(30))
    delete_state: Mapped[str] = mapped_column(String(20), default="NotDeleted")
    deleted_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    purge_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True, index=True)
    next_run: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True, index=True)
    last_backup_time: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_backup_status: Mapped[str | None] = mapped_column(String(30), nullable=True)
    last_error_code: Mapped[str | None] = mapped_column(String(100), nullable=True)
    active_job: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created: Mapped[datetime] = mapped_column(UtcDateTime)


class JobRow(Base):
    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_vault_start", "vault_name", "start_time"),)

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    vault_name: Mapped[str] = mapped_column(
        ForeignKey("vaults.name", ondelete="CASCADE"), index=True
    )
    operation: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(30), index=True)
    item: Mapped[str | None] = mapped_column(String(200), nullable=True)
    item_id: Mapped[int | None] = mapped_column(
        ForeignKey("items.id", ondelete="SET NULL"), nullable=True, index=True
    )
    trigger: Mapped[str | None] = mapped_column(String(20), nullable=True)
    start_time: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    end_time: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(100), nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    # the error's message parameters, to word it again in the reader's language
    error_params: Mapped[dict[str, object] | None] = mapped_column(JSON, nullable=True)
    recovery_point: Mapped[str | None] = mapped_column(String(64), nullable=True)
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    process_started: Mapped[float | None] = mapped_column(Float, nullable=True)
    phase: Mapped[str | None] = mapped_column(String(40), nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    bytes_read: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_transferred: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_stored: Mapped[int] = mapped_column(BigInteger, default=0)
    stats: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    warnings: Mapped[list[dict[str, object]]] = mapped_column(JSON, default=list)


class JobTaskRow(Base):
    """A sub-task of a job ("Take Snapshot", "Transfer data to vault") with its own status."""

    __tablename__ = "job_tasks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_name: Mapped[str] = mapped_column(ForeignKey("jobs.name", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(60))
    status: Mapped[str] = mapped_column(String(30))
    start_time: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    end_time: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class RecoveryPointRow(Base):
    """A recovery point whose manifest exists in the vault. `expiry` NULL = kept until deleted."""

    __tablename__ = "recovery_points"
    __table_args__ = (
        UniqueConstraint("vault_name", "name"),
        Index("ix_recovery_points_item_time", "item_id", "time"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    vault_name: Mapped[str] = mapped_column(ForeignKey("vaults.name", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    time: Mapped[datetime] = mapped_column(UtcDateTime)
    kind: Mapped[str] = mapped_column(String(20))
    tier: Mapped[str] = mapped_column(String(30))
    consistency: Mapped[str] = mapped_column(String(40))
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    stored: Mapped[int] = mapped_column(BigInteger, default=0)
    files: Mapped[int] = mapped_column(BigInteger, default=0)
    retain_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    expiry: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True, index=True)
    expiry_reasons: Mapped[str] = mapped_column(String(120), default="")
    source: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # host, paths
    job_name: Mapped[str | None] = mapped_column(String(64), nullable=True)
