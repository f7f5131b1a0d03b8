"""Protected items: list, show, and moving an item to another policy."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from rsvault.catalog.models import ContainerRow, ItemRow, JobRow, PolicyRow, RecoveryPointRow
from rsvault.errors import Code, RsvaultError
from rsvault.policy import Policy, next_runs
from rsvault.services.context import ServiceContext
from rsvault.services.inventory import (
    item_row,
    policy_from_row,
    policy_row,
    refuse_soft_deleted,
    vault_row,
)
from rsvault.services.jobrunner import JobHandle, JobOutcome, JobSpec, run_job
from rsvault.services.jobs import reconcile_lost_jobs
from rsvault.services.recoverypoints import refresh_expiries
from rsvault.services.states import ACTIVE_STATES, Operation, ProtectionState
from rsvault.services.troubleshoot import advice
from rsvault.services.views import ItemView, JobView, iso_or_none


def next_run_of(policy: Policy, after: datetime) -> datetime:
    return next_runs(policy.schedule, after, 1)[0]


def _query() -> Select[Any]:
    # Per item, through the (item_id, time) index: a GROUP BY over every recovery point of
    # every vault would be read whole for each listing.
    of_item = RecoveryPointRow.item_id == ItemRow.id
    count = select(func.count()).where(of_item).scalar_subquery()
    latest = select(func.max(RecoveryPointRow.time)).where(of_item).scalar_subquery()
    return (
        select(ItemRow, ContainerRow.name, PolicyRow.name, count, latest)
        .join(ContainerRow, ContainerRow.id == ItemRow.container_id)
        .outerjoin(PolicyRow, PolicyRow.id == ItemRow.policy_id)
        .order_by(ItemRow.name)
    )


def _view(row: Any) -> ItemView:
    item, container, policy, count, latest = row
    return ItemView(
        name=item.name,
        vault_name=item.vault_name,
        kind=item.kind,
        container=container,
        policy=policy,
        protection_state=item.protection_state,
        delete_state=item.delete_state,
        paths=list(item.source.get("paths", [])),
        excludes=list(item.source.get("excludes", [])),
        next_run=iso_or_none(item.next_run),
        last_backup_time=iso_or_none(item.last_backup_time),
        last_backup_status=item.last_backup_status,
        last_error_code=item.last_error_code,
        active_job=item.active_job,
        recovery_points=count or 0,
        latest_recovery_point=iso_or_none(latest),
        purge_at=iso_or_none(item.purge_at),
    )


def item_views(session: Session, *conditions: Any) -> list[ItemView]:
    return [_view(row) for row in session.execute(_query().where(*conditions))]


def list_items(ctx: ServiceContext, vault_name: str) -> list[ItemView]:
    reconcile_lost_jobs(ctx)
    with ctx.catalog.unit_of_work() as session:
        vault_row(session, vault_name)
        return item_views(session, ItemRow.vault_name == vault_name)


def show_item(ctx: ServiceContext, vault_name: str, name: str, language: str = "en") -> ItemView:
    """One item; one in ProtectionError also names its last error and the check to run."""
    reconcile_lost_jobs(ctx)
    with ctx.catalog.unit_of_work() as session:
        item = item_row(session, vault_name, name)
        view = item_views(session, ItemRow.id == item.id)[0]
        if item.last_error_code and item.protection_state == ProtectionState.PROTECTION_ERROR:
            view.advice = _last_error(session, item, language)
        return view


def _last_error(session: Session, item: ItemRow, language: str) -> dict[str, Any]:
    params = session.scalar(
        select(JobRow.error_params)
        .where(JobRow.item_id == item.id, JobRow.error_code == item.last_error_code)
        .order_by(JobRow.start_time.desc())
        .limit(1)
    )
    found = advice(str(item.last_error_code), params or {}, language)
    found["diagnose"] = f"rsvault diagnose --vault-name {item.vault_name} --item-name {item.name}"
    return found


def set_item_policy(ctx: ServiceContext, vault_name: str, name: str, policy_name: str) -> JobView:
    """Move an item to another policy of its vault; recorded as a ConfigureBackup job."""
    with ctx.catalog.unit_of_work() as session:
        item = item_row(session, vault_name, name)
        refuse_soft_deleted(item)
        if item.protection_state not in ACTIVE_STATES:
            raise RsvaultError(
                Code.ITEM_STATE_INVALID,
                name=name,
                state=item.protection_state,
                operation="set-policy",
            )
        target = policy_row(session, vault_name, policy_name)
        item_id, target_id = item.id, target.id
    spec = JobSpec(vault_name, Operation.CONFIGURE_BACKUP, item_id=item_id, item_name=name)

    def work(job: JobHandle) -> JobOutcome:
        with ctx.catalog.unit_of_work() as session:
            apply_policy(session, item_id, target_id, ctx.clock.now())
        return JobOutcome(stats={"policy": policy_name})

    return run_job(ctx, spec, work)


def apply_policy(session: Session, item_id: int, policy_id: int, now: datetime) -> None:
    """Put an item on a policy: next run from its schedule, expiries from its retention."""
    item = session.get(ItemRow, item_id)
    policy = session.get(PolicyRow, policy_id)
    assert item is not None
    assert policy is not None
    item.policy_id = policy.id
    if item.protection_state in ACTIVE_STATES:
        item.next_run = next_run_of(policy_from_row(policy), now)
    session.flush()
    refresh_expiries(session, item)


def reschedule(session: Session, items: Sequence[ItemRow], policy: Policy, now: datetime) -> None:
    """After a policy change: new next runs and expiries, at once, for every item on it."""
    for item in items:
        if item.protection_state in ACTIVE_STATES:
            item.next_run = next_run_of(policy, now)
        elif item.protection_state == ProtectionState.BACKUPS_SUSPENDED:
            item.next_run = None
        refresh_expiries(session, item)
