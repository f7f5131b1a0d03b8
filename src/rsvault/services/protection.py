"""Protection of items: enable, back up now, stop (keep or delete data), resume, undelete."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rsvault.catalog.models import ContainerRow, ItemRow, JobRow, RecoveryPointRow
from rsvault.engine.progress import ProgressSink, ignore_progress
from rsvault.errors import Code, RsvaultError
from rsvault.services.backups import (
    DEFAULT_RETAIN,
    ItemBackup,
    backup_preparation,
    run_item_backup,
)
from rsvault.services.context import ServiceContext
from rsvault.services.inventory import (
    item_row,
    local_container,
    policy_row,
    refuse_soft_deleted,
    this_machine,
    vault_row,
)
from rsvault.services.items import apply_policy
from rsvault.services.jobrunner import JobHandle, JobOutcome, JobSpec, run_job
from rsvault.services.recoverypoints import refresh_expiries
from rsvault.services.retention import purge_due_items
from rsvault.services.states import (
    ACTIVE_STATES,
    DeleteState,
    ItemKind,
    Operation,
    PointKind,
    ProtectionState,
    Trigger,
)
from rsvault.services.vaults import open_vault, open_vault_meanwhile
from rsvault.services.views import JobView

# Azure: one scheduled plus three on-demand recovery points a day, and at most nine on-demand
# attempts a day so that failed ones can be retried.
ON_DEMAND_POINTS_PER_DAY = 3
ON_DEMAND_ATTEMPTS_PER_DAY = 9
MAX_RETAIN = timedelta(days=99 * 366)


def enable_for_files(
    ctx: ServiceContext,
    vault_name: str,
    policy_name: str,
    paths: Sequence[str],
    item_name: str | None = None,
    excludes: Sequence[str] = (),
) -> JobView:
    """Protect folders of this machine with a policy; recorded as a ConfigureBackup job."""
    absolute = _sources(paths)
    source = {"paths": absolute, "excludes": list(excludes)}
    name = item_name or this_machine()
    now = ctx.clock.now()

    def protected_item(session: Session) -> tuple[int, int, ProtectionState]:
        policy_id = policy_row(session, vault_name, policy_name).id
        _refuse_protected_elsewhere(session, vault_name, name)
        item = session.scalar(
            select(ItemRow).where(ItemRow.vault_name == vault_name, ItemRow.name == name)
        )
        if item is None:
            container = local_container(session, vault_name, now)
            item = ItemRow(
                vault_name=vault_name,
                container_id=container.id,
                name=name,
                kind=ItemKind.FILES,
                source=source,
                protection_state=ProtectionState.IR_PENDING,
                delete_state=DeleteState.NOT_DELETED,
                created=now,
            )
            session.add(item)
        elif item.policy_id is not None or item.delete_state != DeleteState.NOT_DELETED:
            refuse_soft_deleted(item)
            raise RsvaultError(Code.ITEM_ALREADY_PROTECTED, name=name, vault=vault_name)
        session.flush()
        return item.id, policy_id, _protected_state(session, item.id)

    # Another process may create the host's container or this item at the same moment.
    item_id, policy_id, state = ctx.catalog.creating(protected_item)
    # An existing item (an ad hoc one, with its history) changes only once the job holds it.
    return configure_item(ctx, vault_name, item_id, name, policy_id, state, source)


def _protected_state(session: Session, item_id: int) -> ProtectionState:
    """IRPending until an item has its first recovery point, Protected from then on."""
    points = session.scalar(select(func.count()).where(RecoveryPointRow.item_id == item_id))
    return ProtectionState.PROTECTED if points else ProtectionState.IR_PENDING


def _sources(paths: Sequence[str]) -> list[str]:
    if not paths:
        raise RsvaultError(Code.INVALID_ARGUMENT, argument="--path", reason="give at least one")
    absolute = [os.path.abspath(p) for p in paths]
    for path in absolute:
        if not os.path.lexists(path):
            raise RsvaultError(Code.BACKUP_SOURCE_NOT_FOUND, path=path)
    return absolute


def _refuse_protected_elsewhere(session: Session, vault_name: str, name: str) -> None:
    """One vault per item: the same folder set of this machine in another vault is refused."""
    other = session.scalar(
        select(ItemRow.vault_name)
        .join(ContainerRow, ContainerRow.id == ItemRow.container_id)
        .where(
            ItemRow.name == name,
            ItemRow.vault_name != vault_name,
            ContainerRow.name == this_machine(),
        )
    )
    if other is not None:
        raise RsvaultError(Code.ITEM_ALREADY_PROTECTED, name=name, vault=other)


def configure_item(
    ctx: ServiceContext,
    vault_name: str,
    item_id: int,
    name: str,
    policy_id: int,
    state: ProtectionState,
    source: dict[str, Any] | None = None,
) -> JobView:
    """Put the item in `state` under the policy, in the job, so a refused start changes nothing."""
    spec = JobSpec(vault_name, Operation.CONFIGURE_BACKUP, item_id=item_id, item_name=name)

    def work(job: JobHandle) -> JobOutcome:
        with ctx.catalog.unit_of_work() as session:
            row = session.get(ItemRow, item_id)
            assert row is not None
            row.protection_state = state
            if source is not None:
                row.source = source
            apply_policy(session, item_id, policy_id, ctx.clock.now())
        return JobOutcome()

    return run_job(ctx, spec, work)


def backup_now(
    ctx: ServiceContext,
    vault_name: str,
    item_name: str,
    retain_until: datetime | None = None,
    progress: ProgressSink = ignore_progress,
) -> JobView:
    now = ctx.clock.now()
    until = retain_until or now + DEFAULT_RETAIN
    if not now < until <= now + MAX_RETAIN:
        raise RsvaultError(
            Code.INVALID_ARGUMENT,
            argument="--retain-until",
            reason="a date after today and within 99 years",
        )
    with ctx.catalog.unit_of_work() as session:
        item = item_row(session, vault_name, item_name)
        refuse_soft_deleted(item)
        if item.protection_state not in ACTIVE_STATES:
            raise RsvaultError(
                Code.ITEM_NOT_ACTIVELY_PROTECTED, name=item_name, state=item.protection_state
            )
        _refuse_over_daily_limit(session, item, now)
        backup = ItemBackup.of(item, Trigger.ON_DEMAND, PointKind.ON_DEMAND, retain_until=until)
    vault = open_vault_meanwhile(ctx, vault_name, backup_preparation(backup))
    return run_item_backup(ctx, backup, vault, progress)


def _refuse_over_daily_limit(session: Session, item: ItemRow, now: datetime) -> None:
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    attempts = select(func.count()).where(
        JobRow.item_id == item.id,
        JobRow.operation == Operation.BACKUP,
        JobRow.trigger == Trigger.ON_DEMAND,
        JobRow.start_time >= midnight,
    )
    points = select(func.count()).where(
        RecoveryPointRow.item_id == item.id,
        RecoveryPointRow.kind == PointKind.ON_DEMAND,
        RecoveryPointRow.time >= midnight,
    )
    for query, limit in (
        (attempts, ON_DEMAND_ATTEMPTS_PER_DAY),
        (points, ON_DEMAND_POINTS_PER_DAY),
    ):
        count = session.scalar(query) or 0
        if count >= limit:
            raise RsvaultError(
                Code.ON_DEMAND_LIMIT_REACHED, name=item.name, count=count, limit=limit
            )


def disable(
    ctx: ServiceContext,
    vault_name: str,
    item_name: str,
    *,
    delete_backup_data: bool = False,
    retain_as_per_policy: bool = False,
) -> JobView:
    """Stop protection: keep the data forever, keep it as the policy says, or delete it (to
    soft delete first, purged after the vault's soft-delete period)."""
    if delete_backup_data and retain_as_per_policy:
        raise RsvaultError(
            Code.INVALID_ARGUMENT,
            argument="--delete-backup-data",
            reason="choose it or --retain-as-per-policy, not both",
        )
    with ctx.catalog.unit_of_work() as session:
        item = item_row(session, vault_name, item_name)
        refuse_soft_deleted(item)
        target = _stopped_state(item, retain_as_per_policy)
        soft_delete_days = vault_row(session, vault_name).soft_delete_days
        item_id = item.id
    operation = Operation.DELETE_BACKUP_DATA if delete_backup_data else Operation.DISABLE_BACKUP
    spec = JobSpec(vault_name, operation, item_id=item_id, item_name=item_name)

    def work(job: JobHandle) -> JobOutcome:
        now = ctx.clock.now()
        with ctx.catalog.unit_of_work() as session:
            row = session.get(ItemRow, item_id)
            assert row is not None
            row.protection_state = target
            row.next_run = None
            if delete_backup_data:
                row.delete_state = DeleteState.TO_BE_DELETED
                row.deleted_at = now
                row.purge_at = now + timedelta(days=soft_delete_days)
                row.policy_id = None
            else:
                refresh_expiries(session, row)
        return JobOutcome(stats={"state": target.value})

    view = run_job(ctx, spec, work)
    if delete_backup_data and soft_delete_days == 0:
        purge_due_items(ctx, vault_name, open_vault(ctx, vault_name))  # soft delete is off
    return view


def _stopped_state(item: ItemRow, retain_as_per_policy: bool) -> ProtectionState:
    target = (
        ProtectionState.BACKUPS_SUSPENDED
        if retain_as_per_policy
        else ProtectionState.PROTECTION_STOPPED
    )
    if retain_as_per_policy and item.policy_id is None:
        raise RsvaultError(
            Code.ITEM_STATE_INVALID,
            name=item.name,
            state=item.protection_state,
            operation="disable --retain-as-per-policy (the item has no policy)",
        )
    return target


def resume(
    ctx: ServiceContext, vault_name: str, item_name: str, policy_name: str | None = None
) -> JobView:
    with ctx.catalog.unit_of_work() as session:
        item = item_row(session, vault_name, item_name)
        refuse_soft_deleted(item)
        if item.protection_state in ACTIVE_STATES:
            raise RsvaultError(
                Code.ITEM_STATE_INVALID,
                name=item_name,
                state=item.protection_state,
                operation="resume",
            )
        policy_id = policy_row(session, vault_name, policy_name).id if policy_name else None
        policy_id = policy_id or item.policy_id
        if policy_id is None:
            raise RsvaultError(
                Code.INVALID_ARGUMENT,
                argument="--policy-name",
                reason=f"{item_name} has no policy; name the one to resume with",
            )
        state = _protected_state(session, item.id)
        item_id = item.id
    return configure_item(ctx, vault_name, item_id, item_name, policy_id, state)


def undelete(ctx: ServiceContext, vault_name: str, item_name: str) -> JobView:
    """Bring a soft-deleted item back, stopped with its data kept; resume to protect it."""
    with ctx.catalog.unit_of_work() as session:
        item = item_row(session, vault_name, item_name)
        if item.delete_state != DeleteState.TO_BE_DELETED:
            raise RsvaultError(
                Code.ITEM_STATE_INVALID,
                name=item_name,
                state=item.protection_state,
                operation="undelete",
            )
        item_id = item.id
    spec = JobSpec(vault_name, Operation.CONFIGURE_BACKUP, item_id=item_id, item_name=item_name)

    def work(job: JobHandle) -> JobOutcome:
        with ctx.catalog.unit_of_work() as session:
            row = session.get(ItemRow, item_id)
            assert row is not None
            row.delete_state = DeleteState.NOT_DELETED
            row.deleted_at = row.purge_at = None
            row.protection_state = ProtectionState.PROTECTION_STOPPED
            refresh_expiries(session, row)
        return JobOutcome(stats={"state": ProtectionState.PROTECTION_STOPPED.value})

    return run_job(ctx, spec, work)
