"""Retention: expire recovery points past their expiry, purge soft-deleted items, then prune.

Order makes a crash harmless: the manifest goes first, the catalog row second. A row left
without its manifest is dropped by the next sync; the reverse (a manifest without a row)
would be adopted again, bringing an expired point back, which is why it is not the order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, delete, exists, select
from sqlalchemy.orm import Session, aliased

from rsvault.catalog.models import ItemRow, RecoveryPointRow, VaultRow
from rsvault.errors import Code, RsvaultError
from rsvault.services.context import ServiceContext
from rsvault.services.inventory import vault_row
from rsvault.services.jobrunner import JobHandle, JobOutcome, JobSpec, run_job
from rsvault.services.states import DeleteState, Operation, ProtectionState, Trigger
from rsvault.services.vaults import prune_and_schedule_sweep
from rsvault.services.views import JobView
from rsvault.vault.repository import Vault

_CHUNK = 500  # names per DELETE … IN (…): well under SQLite's parameter limit


def expired_points(session: Session, vault_name: str, now: datetime) -> list[str]:
    """Points past their expiry, except each item's newest (an item never loses its last
    point to retention), and none of a stopped or soft-deleted item."""
    query = _expired(now).where(RecoveryPointRow.vault_name == vault_name)
    return [name for _vault, name in session.execute(query)]


def expired_points_by_vault(session: Session, now: datetime) -> dict[str, list[str]]:
    """The same for every vault in one query: what a scheduler tick looks at."""
    found: dict[str, list[str]] = {}
    for vault_name, name in session.execute(_expired(now)):
        found.setdefault(vault_name, []).append(name)
    return found


def _expired(now: datetime) -> Select[str, str]:
    newer = aliased(RecoveryPointRow)
    has_newer = exists().where(
        newer.item_id == RecoveryPointRow.item_id, newer.time > RecoveryPointRow.time
    )
    return (
        select(RecoveryPointRow.vault_name, RecoveryPointRow.name)
        .join(ItemRow, ItemRow.id == RecoveryPointRow.item_id)
        .where(
            RecoveryPointRow.expiry <= now,
            ItemRow.delete_state == DeleteState.NOT_DELETED,
            ItemRow.protection_state != ProtectionState.PROTECTION_STOPPED,
            has_newer,
        )
    )


def items_to_purge(session: Session, vault_name: str, now: datetime) -> list[int]:
    return [
        item_id
        for _vault, item_id in session.execute(
            _purgeable(now).where(ItemRow.vault_name == vault_name)
        )
    ]


def items_to_purge_by_vault(session: Session, now: datetime) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for vault_name, item_id in session.execute(_purgeable(now)):
        found.setdefault(vault_name, []).append(item_id)
    return found


def _purgeable(now: datetime) -> Select[str, int]:
    return select(ItemRow.vault_name, ItemRow.id).where(
        ItemRow.delete_state == DeleteState.TO_BE_DELETED, ItemRow.purge_at <= now
    )


@dataclass
class RetentionReport:
    points_expired: int = 0
    items_purged: int = 0
    packs_deleted: int = 0
    bytes_deleted: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def enforce_retention(ctx: ServiceContext, vault_name: str, vault: Vault) -> JobView | None:
    """One Prune job for the vault when something is due; None when nothing is."""
    now = ctx.clock.now()
    with ctx.catalog.unit_of_work() as session:
        sweep_due = vault_row(session, vault_name).sweep_due
        due = (
            expired_points(session, vault_name, now)
            or items_to_purge(session, vault_name, now)
            or (sweep_due is not None and sweep_due <= now)
        )
    if not due:
        return None
    spec = JobSpec(vault_name, Operation.PRUNE, trigger=Trigger.SCHEDULED)

    def work(job: JobHandle) -> JobOutcome:
        report = RetentionReport()
        with ctx.catalog.unit_of_work() as session:
            expired = expired_points(session, vault_name, ctx.clock.now())
        report.points_expired = _delete_points(ctx, vault_name, vault, expired)
        report.items_purged = purge_due_items(ctx, vault_name, vault, prune=False)
        pruned = prune_and_schedule_sweep(ctx, vault_name, vault)
        report.packs_deleted, report.bytes_deleted = pruned.packs_deleted, pruned.bytes_deleted
        return JobOutcome(stats=report.as_dict())

    return run_job(ctx, spec, work)


def purge_due_items(
    ctx: ServiceContext, vault_name: str, vault: Vault, *, prune: bool = True
) -> int:
    """Delete the data and rows of soft-deleted items whose soft-delete period has ended."""
    with ctx.catalog.unit_of_work() as session:
        ids = items_to_purge(session, vault_name, ctx.clock.now())
        names = list(
            session.scalars(select(RecoveryPointRow.name).where(RecoveryPointRow.item_id.in_(ids)))
        )
    _delete_points(ctx, vault_name, vault, names)
    with ctx.catalog.unit_of_work() as session:
        session.execute(delete(ItemRow).where(ItemRow.id.in_(ids)))
    if prune and ids:
        prune_and_schedule_sweep(ctx, vault_name, vault)
    return len(ids)


def vaults_to_sweep(session: Session, now: datetime) -> list[str]:
    return list(session.scalars(select(VaultRow.name).where(VaultRow.sweep_due <= now)))


def _delete_points(ctx: ServiceContext, vault_name: str, vault: Vault, names: Sequence[str]) -> int:
    for name in names:
        try:
            vault.delete_manifest(name)
        except RsvaultError as exc:
            if exc.code not in (Code.STORE_OBJECT_MISSING, Code.RECOVERY_POINT_NOT_FOUND):
                raise
    for start in range(0, len(names), _CHUNK):
        with ctx.catalog.unit_of_work() as session:
            session.execute(
                delete(RecoveryPointRow).where(
                    RecoveryPointRow.vault_name == vault_name,
                    RecoveryPointRow.name.in_(names[start : start + _CHUNK]),
                )
            )
    return len(names)
