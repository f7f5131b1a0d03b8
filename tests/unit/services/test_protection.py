"""Protection: the item state machine, stop/resume/soft delete/undelete, and bad input.

Every refusal is checked for its code and for having changed nothing, in the catalog and in
the vault.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from tests.unit.services.support import (
    DAY,
    ITEM,
    POLICY,
    VAULT,
    MakeContext,
    catalog_snapshot,
    daily_policy,
    item_row,
    manifests,
    packs,
    raises,
    store_snapshot,
    task_statuses,
    write_tree,
)

from rsvault.catalog.database import sqlite_url
from rsvault.core.clock import ManualClock
from rsvault.errors import Code, RsvaultError
from rsvault.services import (
    items,
    jobs,
    policies,
    protection,
    recoverypoints,
    restores,
    vaults,
)
from rsvault.services.context import ServiceContext
from rsvault.services.jobs import JobFilter
from rsvault.services.scheduler import Scheduler
from rsvault.services.states import (
    DeleteState,
    JobStatus,
    Operation,
    ProtectionState,
    TaskName,
    TaskStatus,
)


def backups_taken(ctx: ServiceContext, clock: ManualClock, count: int) -> list[str]:
    """`count` on-demand backups an hour apart (the on-demand limit is per day)."""
    names = []
    for _ in range(count):
        view = protection.backup_now(ctx, VAULT, ITEM, retain_until=clock.now() + timedelta(days=3))
        assert view.recovery_point is not None
        names.append(view.recovery_point)
        clock.advance(3600)
    return names


def tick(ctx: ServiceContext) -> None:
    scheduler = Scheduler(ctx)
    try:
        report = scheduler.tick(wait=True)
    finally:
        scheduler.close()
    assert not report.errors, report.errors


def points(ctx: ServiceContext) -> list[str]:
    return [p.name for p in recoverypoints.list_recovery_points(ctx, VAULT, ITEM)]


# ---- enabling --------------------------------------------------------------------------------


def test_enable_records_a_configure_job_and_schedules_the_item(
    ctx: ServiceContext, item: str, source: Path, clock: ManualClock
) -> None:
    view = items.show_item(ctx, VAULT, ITEM)
    assert view.protection_state == ProtectionState.IR_PENDING
    assert view.policy == POLICY
    assert view.paths == [str(source)]
    assert view.next_run == (clock.now() + timedelta(hours=14)).isoformat()  # 02:00 tomorrow
    [job] = jobs.list_jobs(ctx, VAULT)
    assert (job.operation, job.status, job.item) == (
        Operation.CONFIGURE_BACKUP,
        JobStatus.COMPLETED,
        ITEM,
    )
    assert item_row(ctx).active_job is None


def test_enabling_twice_is_refused(ctx: ServiceContext, item: str, source: Path) -> None:
    policies.create_policy(ctx, VAULT, "other", daily_policy(10))
    before, vault_before = catalog_snapshot(ctx), store_snapshot(ctx)
    with raises(Code.ITEM_ALREADY_PROTECTED):
        protection.enable_for_files(ctx, VAULT, POLICY, [str(source)], ITEM)
    with raises(Code.ITEM_ALREADY_PROTECTED):
        protection.enable_for_files(ctx, VAULT, "other", [str(source)], ITEM)
    assert catalog_snapshot(ctx) == before
    assert store_snapshot(ctx) == vault_before


def test_an_item_is_protected_in_one_vault_only(
    ctx: ServiceContext, item: str, source: Path
) -> None:
    vaults.create_vault(ctx, "vault2")
    policies.create_policy(ctx, "vault2", POLICY, daily_policy())
    before = catalog_snapshot(ctx)
    with raises(Code.ITEM_ALREADY_PROTECTED):
        protection.enable_for_files(ctx, "vault2", POLICY, [str(source)], ITEM)
    assert catalog_snapshot(ctx) == before


@pytest.mark.parametrize(
    ("vault", "policy", "path", "code"),
    [
        ("nosuchvault", POLICY, None, Code.VAULT_NOT_FOUND),
        (VAULT, "nosuchpolicy", None, Code.POLICY_NOT_FOUND),
        (VAULT, POLICY, "missing", Code.BACKUP_SOURCE_NOT_FOUND),
    ],
)
def test_enable_with_bad_input_changes_nothing(
    ctx: ServiceContext,
    item: str,
    source: Path,
    tmp_path: Path,
    vault: str,
    policy: str,
    path: str | None,
    code: Code,
) -> None:
    before, vault_before = catalog_snapshot(ctx), store_snapshot(ctx)
    paths = [str(source) if path is None else str(tmp_path / path)]
    with raises(code):
        protection.enable_for_files(ctx, vault, policy, paths, "item2")
    with raises(Code.INVALID_ARGUMENT):
        protection.enable_for_files(ctx, VAULT, POLICY, [], "item2")
    assert catalog_snapshot(ctx) == before
    assert store_snapshot(ctx) == vault_before


def test_unknown_items_and_vaults(ctx: ServiceContext, item: str) -> None:
    before = catalog_snapshot(ctx)
    calls: tuple[Callable[[], object], ...] = (
        lambda: protection.backup_now(ctx, VAULT, "nosuchitem"),
        lambda: protection.disable(ctx, VAULT, "nosuchitem"),
        lambda: protection.resume(ctx, VAULT, "nosuchitem"),
        lambda: protection.undelete(ctx, VAULT, "nosuchitem"),
        lambda: items.show_item(ctx, VAULT, "nosuchitem"),
        lambda: items.set_item_policy(ctx, VAULT, "nosuchitem", POLICY),
    )
    for call in calls:
        with raises(Code.ITEM_NOT_FOUND):
            call()
    with raises(Code.VAULT_NOT_FOUND):
        protection.backup_now(ctx, "nosuchvault", ITEM)
    with raises(Code.POLICY_NOT_FOUND):
        items.set_item_policy(ctx, VAULT, ITEM, "nosuchpolicy")
    assert catalog_snapshot(ctx) == before


# ---- states after backups ---------------------------------------------------------------------


def test_first_backup_protects_and_a_failed_one_is_a_protection_error(
    ctx: ServiceContext, item: str, source: Path, clock: ManualClock
) -> None:
    first = protection.backup_now(ctx, VAULT, ITEM)
    assert first.status == JobStatus.COMPLETED
    assert first.trigger == "OnDemand"
    assert task_statuses(ctx, first.name) == {
        TaskName.TAKE_SNAPSHOT: TaskStatus.COMPLETED,
        TaskName.TRANSFER: TaskStatus.COMPLETED,
    }
    row = item_row(ctx)
    assert row.protection_state == ProtectionState.PROTECTED
    assert row.last_backup_status == JobStatus.COMPLETED

    clock.advance(3600)
    moved = source.with_name("moved")
    source.rename(moved)
    with raises(Code.BACKUP_SOURCE_NOT_FOUND):
        protection.backup_now(ctx, VAULT, ITEM)
    [failed] = jobs.list_jobs(ctx, VAULT, JobFilter(status=JobStatus.FAILED))
    assert failed.error_code == Code.BACKUP_SOURCE_NOT_FOUND.value
    assert task_statuses(ctx, failed.name) == {
        TaskName.TAKE_SNAPSHOT: TaskStatus.FAILED,
        TaskName.TRANSFER: TaskStatus.FAILED,
    }
    row = item_row(ctx)
    assert row.protection_state == ProtectionState.PROTECTION_ERROR
    assert row.last_error_code == Code.BACKUP_SOURCE_NOT_FOUND.value
    assert row.active_job is None
    assert len(points(ctx)) == 1

    clock.advance(3600)
    moved.rename(source)
    protection.backup_now(ctx, VAULT, ITEM)
    assert item_row(ctx).protection_state == ProtectionState.PROTECTED
    assert item_row(ctx).last_error_code is None


def test_a_failed_first_backup_is_a_protection_error(
    ctx: ServiceContext, item: str, source: Path
) -> None:
    shutil.rmtree(source)
    with raises(Code.BACKUP_SOURCE_NOT_FOUND):
        protection.backup_now(ctx, VAULT, ITEM)
    assert item_row(ctx).protection_state == ProtectionState.PROTECTION_ERROR


@pytest.mark.parametrize("retain_as_per_policy", [False, True])
def test_backup_now_on_a_stopped_item_is_refused(
    ctx: ServiceContext, item: str, retain_as_per_policy: bool
) -> None:
    protection.backup_now(ctx, VAULT, ITEM)
    protection.disable(ctx, VAULT, ITEM, retain_as_per_policy=retain_as_per_policy)
    state = (
        ProtectionState.BACKUPS_SUSPENDED
        if retain_as_per_policy
        else ProtectionState.PROTECTION_STOPPED
    )
    assert item_row(ctx).protection_state == state
    before, vault_before = catalog_snapshot(ctx), store_snapshot(ctx)
    with raises(Code.ITEM_NOT_ACTIVELY_PROTECTED):
        protection.backup_now(ctx, VAULT, ITEM)
    assert catalog_snapshot(ctx) == before
    assert store_snapshot(ctx) == vault_before


@pytest.mark.parametrize("days", [-1, 0, 99 * 366 + 1])
def test_retain_until_must_be_after_now_and_within_99_years(
    ctx: ServiceContext, item: str, clock: ManualClock, days: int
) -> None:
    before = catalog_snapshot(ctx)
    with raises(Code.INVALID_ARGUMENT) as info:
        protection.backup_now(ctx, VAULT, ITEM, retain_until=clock.now() + timedelta(days=days))
    assert info.value.params["argument"] == "--retain-until"
    assert catalog_snapshot(ctx) == before


def test_retain_until_is_the_on_demand_points_expiry(
    ctx: ServiceContext, item: str, clock: ManualClock
) -> None:
    until = clock.now() + timedelta(days=45)
    view = protection.backup_now(ctx, VAULT, ITEM, retain_until=until)
    [point] = recoverypoints.list_recovery_points(ctx, VAULT, ITEM)
    assert point.name == view.recovery_point
    assert point.kind == "OnDemand"
    assert point.retain_until == point.expiry == until.isoformat()
    assert point.kept_for == ["retain-until"]
    default = protection.backup_now(ctx, VAULT, ITEM)  # Azure's default: 30 days
    expiry = recoverypoints.show_recovery_point(ctx, VAULT, default.recovery_point or "").expiry
    assert expiry == (clock.now() + timedelta(days=30)).isoformat()


def test_three_on_demand_points_a_day(ctx: ServiceContext, item: str, clock: ManualClock) -> None:
    backups_taken(ctx, clock, 3)
    before, vault_before = catalog_snapshot(ctx), store_snapshot(ctx)
    with raises(Code.ON_DEMAND_LIMIT_REACHED):
        protection.backup_now(ctx, VAULT, ITEM)
    assert catalog_snapshot(ctx) == before
    assert store_snapshot(ctx) == vault_before
    clock.advance(DAY)  # a new day
    backups_taken(ctx, clock, 1)


def test_nine_on_demand_attempts_a_day(
    ctx: ServiceContext, item: str, source: Path, clock: ManualClock
) -> None:
    moved = source.with_name("moved")
    source.rename(moved)
    for _ in range(9):
        with raises(Code.BACKUP_SOURCE_NOT_FOUND):
            protection.backup_now(ctx, VAULT, ITEM)
        clock.advance(60)
    moved.rename(source)
    before = catalog_snapshot(ctx)
    with raises(Code.ON_DEMAND_LIMIT_REACHED):
        protection.backup_now(ctx, VAULT, ITEM)  # no point taken today, but nine attempts
    assert catalog_snapshot(ctx) == before
    clock.advance(DAY)
    assert protection.backup_now(ctx, VAULT, ITEM).status == JobStatus.COMPLETED


# ---- stopping, resuming, soft delete ---------------------------------------------------------


def test_disable_keeps_the_data_forever(ctx: ServiceContext, item: str, clock: ManualClock) -> None:
    names = backups_taken(ctx, clock, 2)
    view = protection.disable(ctx, VAULT, ITEM)
    assert (view.operation, view.status) == (Operation.DISABLE_BACKUP, JobStatus.COMPLETED)
    row = item_row(ctx)
    assert row.protection_state == ProtectionState.PROTECTION_STOPPED
    assert row.next_run is None
    assert row.policy_id is not None  # resume goes back to it
    for point in recoverypoints.list_recovery_points(ctx, VAULT, ITEM):
        assert point.expiry is None
        assert point.kept_for == ["retained"]
    clock.advance(60 * DAY)
    tick(ctx)
    assert points(ctx) == names  # nothing expired, nothing scheduled
    assert manifests(ctx) == set(names)
    assert [j.operation for j in jobs.list_jobs(ctx, VAULT)] == []  # none in the last 7 days


def test_disable_retain_as_per_policy_expires_all_but_the_newest(
    ctx: ServiceContext, item: str, clock: ManualClock
) -> None:
    names = backups_taken(ctx, clock, 3)
    protection.disable(ctx, VAULT, ITEM, retain_as_per_policy=True)
    row = item_row(ctx)
    assert row.protection_state == ProtectionState.BACKUPS_SUSPENDED
    assert row.next_run is None
    expiries = {p.name: p.expiry for p in recoverypoints.list_recovery_points(ctx, VAULT, ITEM)}
    assert all(expiries.values())  # the policy's retention (here retain-until) applies
    clock.advance(10 * DAY)
    tick(ctx)
    assert points(ctx) == names[-1:]  # the newest is kept, whatever its expiry
    assert manifests(ctx) == set(names[-1:])
    clock.advance(400 * DAY)
    tick(ctx)
    assert points(ctx) == names[-1:]


def test_disable_with_both_choices_is_refused(ctx: ServiceContext, item: str) -> None:
    before = catalog_snapshot(ctx)
    with raises(Code.INVALID_ARGUMENT):
        protection.disable(ctx, VAULT, ITEM, delete_backup_data=True, retain_as_per_policy=True)
    assert catalog_snapshot(ctx) == before


def test_resume_after_stop(ctx: ServiceContext, item: str, clock: ManualClock) -> None:
    backups_taken(ctx, clock, 1)
    with raises(Code.ITEM_STATE_INVALID):
        protection.resume(ctx, VAULT, ITEM)  # it is protected already
    protection.disable(ctx, VAULT, ITEM)
    view = protection.resume(ctx, VAULT, ITEM)
    assert (view.operation, view.status) == (Operation.CONFIGURE_BACKUP, JobStatus.COMPLETED)
    row = item_row(ctx)
    assert row.protection_state == ProtectionState.PROTECTED  # it has a recovery point
    assert row.next_run is not None
    [point] = recoverypoints.list_recovery_points(ctx, VAULT, ITEM)
    assert point.expiry is not None  # the policy's retention again


def test_soft_delete_undelete_and_resume(
    ctx: ServiceContext, item: str, clock: ManualClock, tmp_path: Path
) -> None:
    names = backups_taken(ctx, clock, 2)
    deleted_at = clock.now()
    view = protection.disable(ctx, VAULT, ITEM, delete_backup_data=True)
    assert (view.operation, view.status) == (Operation.DELETE_BACKUP_DATA, JobStatus.COMPLETED)
    row = item_row(ctx)
    assert row.delete_state == DeleteState.TO_BE_DELETED
    assert row.protection_state == ProtectionState.PROTECTION_STOPPED
    assert row.deleted_at == deleted_at
    assert row.purge_at == deleted_at + timedelta(days=14)
    assert row.next_run is None
    assert points(ctx) == names  # nothing is gone yet
    assert manifests(ctx) == set(names)
    assert items.show_item(ctx, VAULT, ITEM).purge_at == row.purge_at.isoformat()

    before, vault_before = catalog_snapshot(ctx), store_snapshot(ctx)
    calls: tuple[Callable[[], object], ...] = (
        lambda: protection.backup_now(ctx, VAULT, ITEM),
        lambda: protection.disable(ctx, VAULT, ITEM),
        lambda: protection.disable(ctx, VAULT, ITEM, delete_backup_data=True),
        lambda: protection.resume(ctx, VAULT, ITEM, POLICY),
        lambda: items.set_item_policy(ctx, VAULT, ITEM, POLICY),
        lambda: restores.run_files_restore(ctx, VAULT, names[0], tmp_path / "out"),
    )
    for call in calls:
        with raises(Code.ITEM_SOFT_DELETED):  # undelete first, as in Azure
            call()
    assert catalog_snapshot(ctx) == before
    assert store_snapshot(ctx) == vault_before
    assert not (tmp_path / "out").exists()

    clock.advance(13 * DAY)  # retention does not touch soft-deleted data
    tick(ctx)
    assert points(ctx) == names

    view = protection.undelete(ctx, VAULT, ITEM)
    assert view.status == JobStatus.COMPLETED
    row = item_row(ctx)
    assert row.delete_state == DeleteState.NOT_DELETED
    assert row.protection_state == ProtectionState.PROTECTION_STOPPED
    assert row.purge_at is None
    assert all(p.expiry is None for p in recoverypoints.list_recovery_points(ctx, VAULT, ITEM))
    with raises(Code.ITEM_STATE_INVALID):
        protection.undelete(ctx, VAULT, ITEM)

    restored = restores.run_files_restore(ctx, VAULT, names[0], tmp_path / "out")
    assert restored.status == JobStatus.COMPLETED

    with raises(Code.INVALID_ARGUMENT):  # its policy went with the delete: name one
        protection.resume(ctx, VAULT, ITEM)
    protection.resume(ctx, VAULT, ITEM, POLICY)
    row = item_row(ctx)
    assert row.protection_state == ProtectionState.PROTECTED
    assert row.next_run is not None
    assert protection.backup_now(ctx, VAULT, ITEM).status == JobStatus.COMPLETED


def test_soft_deleted_items_are_purged_after_the_period(
    ctx: ServiceContext, item: str, clock: ManualClock, source: Path
) -> None:
    write_tree(source, {"more.bin": bytes(range(256)) * 4096})
    names = backups_taken(ctx, clock, 2)
    packs_before = packs(ctx)
    assert packs_before[0] > 0
    protection.disable(ctx, VAULT, ITEM, delete_backup_data=True)
    before = catalog_snapshot(ctx)
    with raises(Code.VAULT_HAS_ITEMS):
        vaults.delete_vault(ctx, VAULT, delete_backup_data=True)
    assert catalog_snapshot(ctx) == before

    clock.advance(14 * DAY - 3600)  # not yet
    tick(ctx)
    assert points(ctx) == names

    clock.advance(DAY)
    tick(ctx)
    assert manifests(ctx) == set()
    assert recoverypoints.list_recovery_points(ctx, VAULT) == []
    assert [i.name for i in items.list_items(ctx, VAULT)] == []
    [prune] = jobs.list_jobs(ctx, VAULT, JobFilter(operation=Operation.PRUNE))
    assert prune.status == JobStatus.COMPLETED
    assert jobs.show_job(ctx, VAULT, prune.name).stats["items_purged"] == 1
    assert packs(ctx) != (0, 0)  # condemned, waiting for the grace period
    clock.advance(2 * 3600)  # past it: the scheduler comes back by itself and sweeps them
    tick(ctx)
    assert packs(ctx) == (0, 0)
    assert len(jobs.list_jobs(ctx, VAULT, JobFilter(operation=Operation.PRUNE))) == 2
    assert vaults.check(ctx, VAULT).ok

    vaults.delete_vault(ctx, VAULT)  # empty now: nothing holds it
    assert [v.name for v in vaults.list_vaults(ctx)] == []


def test_soft_delete_off_purges_at_once(ctx: ServiceContext, item: str, clock: ManualClock) -> None:
    vaults.update_vault(ctx, VAULT, soft_delete_days=0)
    backups_taken(ctx, clock, 1)
    protection.disable(ctx, VAULT, ITEM, delete_backup_data=True)
    assert manifests(ctx) == set()
    assert items.list_items(ctx, VAULT) == []


@pytest.mark.parametrize("days", [1, 13, 181])
def test_soft_delete_period_is_0_or_14_to_180_days(
    ctx: ServiceContext, item: str, days: int
) -> None:
    before = catalog_snapshot(ctx)
    with raises(Code.INVALID_ARGUMENT):
        vaults.update_vault(ctx, VAULT, soft_delete_days=days)
    assert catalog_snapshot(ctx) == before


# ---- vault and policy deletion ---------------------------------------------------------------


def test_a_vault_with_protected_items_cannot_be_deleted(ctx: ServiceContext, item: str) -> None:
    before, vault_before = catalog_snapshot(ctx), store_snapshot(ctx)
    with raises(Code.VAULT_HAS_ITEMS):
        vaults.delete_vault(ctx, VAULT, delete_backup_data=True)
    assert catalog_snapshot(ctx) == before
    assert store_snapshot(ctx) == vault_before


def test_a_policy_in_use_cannot_be_deleted(ctx: ServiceContext, item: str) -> None:
    before = catalog_snapshot(ctx)
    with raises(Code.POLICY_IN_USE):
        policies.delete_policy(ctx, VAULT, POLICY)
    assert catalog_snapshot(ctx) == before
    protection.disable(ctx, VAULT, ITEM)  # stopped, it still belongs to the policy
    with raises(Code.POLICY_IN_USE):
        policies.delete_policy(ctx, VAULT, POLICY)
    policies.create_policy(ctx, VAULT, "unused", daily_policy())
    policies.delete_policy(ctx, VAULT, "unused")
    with raises(Code.POLICY_NOT_FOUND):
        policies.show_policy(ctx, VAULT, "unused")


def test_policy_changes_take_effect_at_once(
    ctx: ServiceContext, item: str, clock: ManualClock
) -> None:
    tick_days(ctx, clock, 5)  # five scheduled points, a day apart
    scheduled = recoverypoints.list_recovery_points(ctx, VAULT, ITEM)
    assert [p.kind for p in scheduled] == ["Scheduled"] * 5
    old_expiry = {p.name: p.expiry for p in scheduled}

    policies.set_policy(ctx, VAULT, POLICY, daily_policy(10, run_time="05:30"))
    row = item_row(ctx)
    assert row.next_run == (clock.now() + timedelta(days=1)).replace(hour=5, minute=30)
    for point in recoverypoints.list_recovery_points(ctx, VAULT, ITEM):
        old = old_expiry[point.name]
        assert old is not None
        assert point.expiry == _plus_days(old, 3)  # 7 days became 10

    tick_days(ctx, clock, 5)
    assert len(points(ctx)) == 10  # the oldest is 9 days old: kept by the 10 days
    # Shorter retention: the next scheduler run removes what it no longer keeps.
    policies.set_policy(ctx, VAULT, POLICY, daily_policy(7))
    tick(ctx)
    kept = recoverypoints.list_recovery_points(ctx, VAULT, ITEM)
    assert [p.time for p in kept] == [
        (clock.now() - timedelta(days=age)).isoformat() for age in range(6, -1, -1)
    ]
    assert manifests(ctx) == {p.name for p in kept}


def _plus_days(iso: str, days: int) -> str:
    return (datetime.fromisoformat(iso) + timedelta(days=days)).isoformat()


def tick_days(ctx: ServiceContext, clock: ManualClock, days: int) -> None:
    scheduler = Scheduler(ctx)
    try:
        for _ in range(days):
            clock.advance(DAY)
            assert not scheduler.tick(wait=True).errors
    finally:
        scheduler.close()


def test_set_item_policy_moves_the_item(ctx: ServiceContext, item: str, clock: ManualClock) -> None:
    policies.create_policy(ctx, VAULT, "evening", daily_policy(30, run_time="22:00"))
    view = items.set_item_policy(ctx, VAULT, ITEM, "evening")
    assert (view.operation, view.status) == (Operation.CONFIGURE_BACKUP, JobStatus.COMPLETED)
    shown = items.show_item(ctx, VAULT, ITEM)
    assert shown.policy == "evening"
    assert shown.next_run == clock.now().replace(hour=22).isoformat()
    assert [i.name for i in policies.list_associated_items(ctx, VAULT, "evening")] == [ITEM]
    assert policies.list_associated_items(ctx, VAULT, POLICY) == []


def test_vault_dashboard_counts(ctx: ServiceContext, item: str, clock: ManualClock) -> None:
    backups_taken(ctx, clock, 2)
    view = vaults.show_vault(ctx, VAULT)
    assert view.items_by_state[ProtectionState.PROTECTED] == 1
    assert view.recovery_points == 2
    assert view.recovery_points_size > 0
    assert view.jobs_last24h == {JobStatus.COMPLETED: 3}  # configure + two backups


def test_policies_of_two_catalogs_are_never_confused(
    make_context: MakeContext, tmp_path: Path, source: Path, clock: ManualClock
) -> None:
    """Same policy id, same modification time, different documents: each catalog its own."""
    runs = {}
    for name, run_time in (("first", "03:00"), ("second", "21:30")):
        (tmp_path / name).mkdir()
        ctx = make_context(sqlite_url(tmp_path / name))
        vaults.create_vault(ctx, name)
        policies.create_policy(ctx, name, POLICY, daily_policy(run_time=run_time))
        protection.enable_for_files(ctx, name, POLICY, [str(source)], ITEM)
        runs[name] = items.show_item(ctx, name, ITEM).next_run
    assert runs == {
        "first": (clock.now() + timedelta(days=1)).replace(hour=3).isoformat(),
        "second": clock.now().replace(hour=21, minute=30).isoformat(),
    }


def test_work_done_while_a_vault_is_unlocked_runs_here_and_the_vault_opens(
    ctx: ServiceContext,
) -> None:
    vaults.create_vault(ctx, "unlocking")
    ran_in: list[str] = []
    vault = vaults.open_vault_meanwhile(
        ctx, "unlocking", lambda: ran_in.append(threading.current_thread().name)
    )
    assert ran_in == [threading.main_thread().name]
    assert vault.config.vault_id

    wrong = replace(ctx, passphrase_source=lambda: "not the passphrase")  # same catalog
    with pytest.raises(RsvaultError) as caught:
        vaults.open_vault_meanwhile(wrong, "unlocking", lambda: None)
    assert caught.value.code is Code.PASSPHRASE_INCORRECT
    assert caught.value.params["name"] == "unlocking"
