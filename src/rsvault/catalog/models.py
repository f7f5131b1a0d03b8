"""Catalog tables. Vault object ids are opaque strings here: the catalog never reads a vault."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class VaultRow(Base):
    __tablename__ = "vaults"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    vault_id: Mapped[str] = mapped_column(String(64), unique=True)
    store_kind: Mapped[str] = mapped_column(String(20), default="local")
    location: Mapped[str] = mapped_column(Text)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class JobRow(Base):
    __tablename__ = "jobs"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    vault_name: Mapped[str] = mapped_column(
        ForeignKey("vaults.name", ondelete="CASCADE"), index=True
    )
    operation: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(30), index=True)
    item: Mapped[str | None] = mapped_column(String(200), nullable=True)
    start_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    end_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(100), nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    recovery_point: Mapped[str | None] = mapped_column(String(64), nullable=True)
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    stats: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    warnings: Mapped[list[dict[str, object]]] = mapped_column(JSON, default=list)
