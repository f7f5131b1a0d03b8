"""One operation per item: while a job holds an item, every other operation on it is refused."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.unit.services.support import (
    ITEM,
    POLICY,
    VAULT,
    Background,
    catalog_snapshot,
    daily_policy,
    item_row,
    raises,
    random_tree,
    store_snapshot,
    wait_until,
)

from rsvault.core.clock import ManualClock
from rsvault.engine.progress import Progress
from rsvault.errors import Code, RsvaultError
from rsvault.services import backups, items, jobs, policies, protection, recoverypoints, restores
from rsvault.services.context import ServiceContext
from rsvault.services.jobrunner import JobOutcome, JobSpec, finish_job, start_job
from rsvault.services.states import JobStatus, Operation, ProtectionState, TaskName

Attempt = Callable[[ServiceContext, Path], object]


def _restore(ctx: ServiceContext, tmp: Path) -> object:
    [point] = recoverypoints.list_recovery_points(ctx, VAULT, ITEM)
    return restores.run_files_restore(ctx, VAULT, point.name, tmp / "restored")


ATTEMPTS: dict[str, Attempt] = {
    "backup-now": lambda ctx, _tmp: protection.backup_now(ctx, VAULT, ITEM),
    "restore": _restore,
    "disable": lambda ctx, _tmp: protection.disable(ctx, VAULT, ITEM),
    "disable-retain-as-per-policy": lambda ctx, _tmp: protection.disable(
        ctx, VAULT, ITEM, retain_as_per_policy=True
    ),
    "disable-delete-data": lambda ctx, _tmp: protection.disable(
        ctx, VAULT, ITEM, delete_backup_data=True
    ),
    "set-policy": lambda ctx, _tmp: items.set_item_policy(ctx, VAULT, ITEM, "other"),
}


def _hold(ctx: ServiceContext) -> str:
    spec = JobSpec(
        VAULT,
        Operation.BACKUP,
        item_id=item_row(ctx).id,
        item_name=ITEM,
        tasks=(TaskName.TAKE_SNAPSHOT, TaskName.TRANSFER),
    )
    return start_job(ctx, spec)


@pytest.mark.parametrize("attempt", list(ATTEMPTS))
def test_an_item_held_by_a_job_refuses_other_operations(
    ctx: ServiceContext, item: str, tmp_path: Path, clock: ManualClock, attempt: str
) -> None:
    protection.backup_now(ctx, VAULT, ITEM)
    policies.create_policy(ctx, VAULT, "other", daily_policy(10))
    clock.advance(60)
    holder = _hold(ctx)
    before, vault_before = catalog_snapshot(ctx), store_snapshot(ctx)
    with raises(Code.BACKUP_OPERATION_IN_PROGRESS) as info:
        ATTEMPTS[attempt](ctx, tmp_path)
    assert info.value.detail == f"running job {holder}"  # the user learns which job to wait for
    assert catalog_snapshot(ctx) == before
    assert store_snapshot(ctx) == vault_before
    assert not (tmp_path / "restored").exists()

    finish_job(ctx, holder, JobOutcome())  # released: the same call now goes through
    clock.advance(60)
    ATTEMPTS[attempt](ctx, tmp_path)


def test_resume_and_undelete_wait_for_the_lock_too(
    ctx: ServiceContext, item: str, clock: ManualClock
) -> None:
    protection.backup_now(ctx, VAULT, ITEM)
    protection.disable(ctx, VAULT, ITEM)
    holder = _hold(ctx)
    before = catalog_snapshot(ctx)
    with raises(Code.BACKUP_OPERATION_IN_PROGRESS):
        protection.resume(ctx, VAULT, ITEM)
    assert catalog_snapshot(ctx) == before  # resume's state change was rolled back with it
    finish_job(ctx, holder, JobOutcome())
    protection.resume(ctx, VAULT, ITEM)
    protection.disable(ctx, VAULT, ITEM, delete_backup_data=True)
    holder = _hold(ctx)
    before = catalog_snapshot(ctx)
    with raises(Code.BACKUP_OPERATION_IN_PROGRESS):
        protection.undelete(ctx, VAULT, ITEM)
    assert catalog_snapshot(ctx) == before


def test_enabling_an_ad_hoc_item_waits_for_its_lock(
    ctx: ServiceContext, item: str, source: Path
) -> None:
    """An item made by an ad hoc backup (stopped, no policy) is protected only once free."""
    backups.run_files_backup(ctx, VAULT, [str(source)], item="adhoc")
    assert item_row(ctx, "adhoc").protection_state == ProtectionState.PROTECTION_STOPPED
    spec = JobSpec(VAULT, Operation.BACKUP, item_id=item_row(ctx, "adhoc").id, item_name="adhoc")
    holder = start_job(ctx, spec)
    before = catalog_snapshot(ctx)
    with raises(Code.BACKUP_OPERATION_IN_PROGRESS):
        protection.enable_for_files(ctx, VAULT, POLICY, [str(source)], "adhoc")
    assert catalog_snapshot(ctx) == before
    finish_job(ctx, holder, JobOutcome())
    protection.enable_for_files(ctx, VAULT, POLICY, [str(source)], "adhoc")
    row = item_row(ctx, "adhoc")
    # its ad hoc recovery point is its history: it is protected, not waiting for a first one
    assert row.protection_state == ProtectionState.PROTECTED
    assert row.next_run is not None


def test_only_one_of_many_simultaneous_starts_takes_the_item(
    ctx: ServiceContext, item: str
) -> None:
    barrier = threading.Barrier(6)

    def contend() -> str | Code:
        barrier.wait()
        try:
            return _hold(ctx)
        except RsvaultError as exc:
            return exc.code

    outcomes = [run.outcome() for run in [Background(contend) for _ in range(6)]]
    won = [name for name in outcomes if not isinstance(name, Code)]  # a Code is a str too
    assert len(won) == 1
    assert [o for o in outcomes if isinstance(o, Code)] == [Code.BACKUP_OPERATION_IN_PROGRESS] * 5
    assert item_row(ctx).active_job == won[0]
    assert len([j for j in _jobs(ctx) if j == Operation.BACKUP]) == 1


def _jobs(ctx: ServiceContext) -> list[str]:
    return [j.operation for j in jobs.list_jobs(ctx, VAULT)]


def test_a_running_backup_holds_its_item_until_it_ends(
    ctx: ServiceContext, item: str, source: Path, tmp_path: Path, clock: ManualClock
) -> None:
    """The real thing: a backup in progress on another thread, the others refused meanwhile."""
    protection.backup_now(ctx, VAULT, ITEM)
    clock.advance(60)
    random_tree(source / "big", 2, 4 << 20)
    gate = threading.Event()
    reached: list[Progress] = []

    def sink(event: Progress) -> None:
        reached.append(event)
        gate.wait(30)

    run = Background(lambda: protection.backup_now(ctx, VAULT, ITEM, progress=sink))
    wait_until(lambda: bool(reached) or run.done)
    holder = item_row(ctx).active_job
    assert holder is not None
    before = catalog_snapshot(ctx)
    for attempt in ("backup-now", "restore", "disable"):
        with raises(Code.BACKUP_OPERATION_IN_PROGRESS):
            ATTEMPTS[attempt](ctx, tmp_path)
    assert catalog_snapshot(ctx) == before
    gate.set()
    assert run.outcome().status == JobStatus.COMPLETED
    row = item_row(ctx)
    assert row.active_job is None
    assert row.protection_state == ProtectionState.PROTECTED
    assert len(recoverypoints.list_recovery_points(ctx, VAULT, ITEM)) == 2
