"""Counts for the vault overview, each one aggregate query so it stays fast at any size."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rsvault.catalog.models import ItemRow, JobRow, RecoveryPointRow
from rsvault.services.states import DeleteState, ProtectionState


@dataclass(frozen=True)
class VaultOverview:
    items_by_state: dict[str, int]
    soft_deleted_items: int
    recovery_points: int
    recovery_points_size: int
    recovery_points_stored: int
    jobs_last24h: dict[str, int]


def vault_overview(session: Session, vault_name: str, now: datetime) -> VaultOverview:
    states = session.execute(
        select(ItemRow.protection_state, ItemRow.delete_state, func.count())
        .where(ItemRow.vault_name == vault_name)
        .group_by(ItemRow.protection_state, ItemRow.delete_state)
    ).all()
    by_state = {s.value: 0 for s in ProtectionState}
    soft_deleted = 0
    for state, deleted, count in states:
        if deleted == DeleteState.TO_BE_DELETED:
            soft_deleted += count
        else:
            by_state[state] = by_state.get(state, 0) + count
    points, size, stored = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(RecoveryPointRow.size), 0),
            func.coalesce(func.sum(RecoveryPointRow.stored), 0),
        ).where(RecoveryPointRow.vault_name == vault_name)
    ).one()
    jobs = session.execute(
        select(JobRow.status, func.count())
        .where(JobRow.vault_name == vault_name, JobRow.start_time >= now - timedelta(hours=24))
        .group_by(JobRow.status)
    ).all()
    return VaultOverview(by_state, soft_deleted, int(points), int(size), int(stored), dict(jobs))


@dataclass(frozen=True)
class BlockingItems:
    protected: int
    soft_deleted: int


def blocking_items(session: Session, vault_name: str) -> BlockingItems:
    """Items that keep a vault from being deleted: under a policy, or in soft delete."""
    rows = session.execute(
        select(ItemRow.protection_state, ItemRow.delete_state).where(
            ItemRow.vault_name == vault_name
        )
    ).all()
    soft = sum(1 for _, deleted in rows if deleted == DeleteState.TO_BE_DELETED)
    protected = sum(
        1
        for state, deleted in rows
        if deleted != DeleteState.TO_BE_DELETED and state != ProtectionState.PROTECTION_STOPPED
    )
    return BlockingItems(protected, soft)
