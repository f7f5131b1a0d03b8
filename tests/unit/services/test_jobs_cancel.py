"""Cancelling jobs: which types, which states and phases, and a real cancel of a running backup."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from sqlalchemy import update
from tests.unit.services.support import (
    ITEM,
    VAULT,
    Background,
    catalog_snapshot,
    item_row,
    job_row,
    manifests,
    raises,
    random_tree,
    task_statuses,
    wait_until,
)

from rsvault.catalog.models import ItemRow
from rsvault.core.clock import ManualClock
from rsvault.engine.progress import Progress
from rsvault.errors import Code, RsvaultError
from rsvault.services import jobs, protection, recoverypoints, vaults
from rsvault.services.context import ServiceContext
from rsvault.services.jobrunner import (
    COMMIT_PHASE,
    JobHandle,
    JobOutcome,
    JobSpec,
    finish_job,
    start_job,
)
from rsvault.services.jobs import JobFilter
from rsvault.services.states import (
    ItemKind,
    JobStatus,
    Operation,
    ProtectionState,
    TaskName,
    TaskStatus,
)

BACKUP_TASKS = (TaskName.TAKE_SNAPSHOT, TaskName.TRANSFER)


def running(ctx: ServiceContext, operation: Operation = Operation.BACKUP) -> str:
    """A job of this (live) process on ITEM, as if its work were under way."""
    item_id = item_row(ctx).id
    tasks = BACKUP_TASKS if operation is Operation.BACKUP else ()
    return start_job(ctx, JobSpec(VAULT, operation, item_id=item_id, item_name=ITEM, tasks=tasks))


def only_job(ctx: ServiceContext, operation: Operation) -> str:
    found = jobs.list_jobs(ctx, VAULT, JobFilter(operation=operation.value))
    assert len(found) == 1, found
    return found[0].name


# ---- refusals ------------------------------------------------------------------------------


def test_configure_backup_job_type_cannot_be_cancelled(ctx: ServiceContext, item: str) -> None:
    done = only_job(ctx, Operation.CONFIGURE_BACKUP)
    before = catalog_snapshot(ctx)
    with raises(Code.JOB_CANCEL_NOT_SUPPORTED):
        jobs.stop_job(ctx, VAULT, done)
    assert catalog_snapshot(ctx) == before


@pytest.mark.parametrize(
    "operation",
    [Operation.CONFIGURE_BACKUP, Operation.DISABLE_BACKUP, Operation.DELETE_BACKUP_DATA],
)
def test_running_job_of_a_type_that_cannot_be_cancelled(
    ctx: ServiceContext, item: str, operation: Operation
) -> None:
    name = running(ctx, operation)
    before = catalog_snapshot(ctx)
    with raises(Code.JOB_CANCEL_NOT_SUPPORTED):  # the type is judged first, even while running
        jobs.stop_job(ctx, VAULT, name)
    assert catalog_snapshot(ctx) == before
    assert job_row(ctx, name).status == JobStatus.IN_PROGRESS


def test_finished_jobs_are_not_in_progress(
    ctx: ServiceContext, item: str, source: Path, clock: ManualClock
) -> None:
    completed = protection.backup_now(ctx, VAULT, ITEM)
    assert completed.status == JobStatus.COMPLETED
    shutil.rmtree(source)
    clock.advance(60)
    with raises(Code.BACKUP_SOURCE_NOT_FOUND):
        protection.backup_now(ctx, VAULT, ITEM)
    failed = [j for j in jobs.list_jobs(ctx, VAULT) if j.status == JobStatus.FAILED]
    assert len(failed) == 1
    before = catalog_snapshot(ctx)
    for name in (completed.name, failed[0].name):
        with raises(Code.JOB_NOT_IN_PROGRESS):
            jobs.stop_job(ctx, VAULT, name)
    assert catalog_snapshot(ctx) == before


def test_cancelled_job_is_not_in_progress(ctx: ServiceContext, item: str) -> None:
    name = running(ctx)
    jobs.stop_job(ctx, VAULT, name)
    view = finish_job(ctx, name, JobOutcome(error=RsvaultError(Code.OPERATION_CANCELLED)))
    assert view.status == JobStatus.CANCELLED
    with raises(Code.JOB_NOT_IN_PROGRESS):
        jobs.stop_job(ctx, VAULT, name)


def test_a_cancelling_job_is_not_in_a_cancellable_state(ctx: ServiceContext, item: str) -> None:
    name = running(ctx)
    first = jobs.stop_job(ctx, VAULT, name)
    assert first.status == JobStatus.CANCELLING
    assert job_row(ctx, name).cancel_requested
    before = catalog_snapshot(ctx)
    with raises(Code.JOB_NOT_CANCELLABLE):
        jobs.stop_job(ctx, VAULT, name)
    assert catalog_snapshot(ctx) == before


def test_a_committing_job_is_not_in_a_cancellable_state(ctx: ServiceContext, item: str) -> None:
    name = running(ctx)
    JobHandle(ctx, name).enter_commit()
    assert job_row(ctx, name).phase == COMMIT_PHASE
    before = catalog_snapshot(ctx)
    with raises(Code.JOB_NOT_CANCELLABLE):
        jobs.stop_job(ctx, VAULT, name)
    assert catalog_snapshot(ctx) == before
    assert job_row(ctx, name).status == JobStatus.IN_PROGRESS


def test_cancel_asked_before_the_commit_wins(ctx: ServiceContext, item: str) -> None:
    name = running(ctx)
    jobs.stop_job(ctx, VAULT, name)
    with raises(Code.OPERATION_CANCELLED):
        JobHandle(ctx, name).enter_commit()
    assert job_row(ctx, name).phase != COMMIT_PHASE


def test_vm_backup_cancels_while_taking_the_snapshot_not_during_transfer(
    ctx: ServiceContext, item: str
) -> None:
    """Azure's rule for VMs: cancel is allowed while taking the snapshot, not in transfer."""
    with ctx.catalog.unit_of_work() as session:
        session.execute(update(ItemRow).where(ItemRow.name == ITEM).values(kind=ItemKind.VM))
    handle = JobHandle(ctx, running(ctx))
    with handle.task(TaskName.TAKE_SNAPSHOT):
        pass
    with handle.task(TaskName.TRANSFER), raises(Code.JOB_NOT_CANCELLABLE):
        jobs.stop_job(ctx, VAULT, handle.name)
    finish_job(ctx, handle.name, JobOutcome())
    other = JobHandle(ctx, running(ctx))
    with other.task(TaskName.TAKE_SNAPSHOT):
        assert jobs.stop_job(ctx, VAULT, other.name).status == JobStatus.CANCELLING


def test_files_backup_and_restore_can_be_cancelled_in_transfer(
    ctx: ServiceContext, item: str
) -> None:
    handle = JobHandle(ctx, running(ctx))
    with handle.task(TaskName.TAKE_SNAPSHOT):
        pass
    with handle.task(TaskName.TRANSFER):
        assert jobs.stop_job(ctx, VAULT, handle.name).status == JobStatus.CANCELLING
        with raises(Code.OPERATION_CANCELLED):
            handle.raise_if_cancelled()
    finish_job(ctx, handle.name, JobOutcome())
    restore = running(ctx, Operation.RESTORE)
    assert jobs.stop_job(ctx, VAULT, restore).status == JobStatus.CANCELLING


def test_unknown_job_and_job_of_another_vault(ctx: ServiceContext, item: str) -> None:
    vaults.create_vault(ctx, "vault2")
    name = running(ctx)
    with raises(Code.JOB_NOT_FOUND):
        jobs.stop_job(ctx, VAULT, "0123456789abcdef")
    with raises(Code.JOB_NOT_FOUND):
        jobs.stop_job(ctx, "vault2", name)
    with raises(Code.JOB_NOT_FOUND):
        jobs.show_job(ctx, "vault2", name)
    with raises(Code.VAULT_NOT_FOUND):
        jobs.stop_job(ctx, "nosuchvault", name)
    assert job_row(ctx, name).status == JobStatus.IN_PROGRESS


def test_wait_times_out_on_a_running_job_and_returns_a_finished_one(
    ctx: ServiceContext, item: str
) -> None:
    name = running(ctx)
    with raises(Code.JOB_WAIT_TIMED_OUT):
        jobs.wait_job(ctx, VAULT, name, timeout=5)  # the manual clock sleeps at once
    finish_job(ctx, name, JobOutcome())
    assert jobs.wait_job(ctx, VAULT, name, timeout=5).status == JobStatus.COMPLETED


# ---- a real cancel -------------------------------------------------------------------------

BIG_FILES, BIG_FILE_SIZE = 8, 8 << 20  # 64 MiB of random bytes


def test_cancel_a_backup_while_it_transfers_data(
    ctx: ServiceContext, item: str, source: Path, clock: ManualClock
) -> None:
    random_tree(source / "big", BIG_FILES, BIG_FILE_SIZE)
    total = BIG_FILES * BIG_FILE_SIZE
    gate = threading.Event()
    seen: list[Progress] = []

    def sink(event: Progress) -> None:
        seen.append(event)
        if event.phase == "backup":
            gate.wait(30)  # hold the transfer until the cancel has been asked

    vault_before = manifests(ctx)
    run = Background(lambda: protection.backup_now(ctx, VAULT, ITEM, progress=sink))
    wait_until(lambda: bool(seen) or run.done)
    [job] = jobs.list_jobs(ctx, VAULT, JobFilter(operation="Backup"))
    assert job.status == JobStatus.IN_PROGRESS
    assert job_row(ctx, job.name).phase == TaskName.TRANSFER
    assert item_row(ctx).active_job == job.name

    stopping = jobs.stop_job(ctx, VAULT, job.name)
    assert stopping.status == JobStatus.CANCELLING
    clock.advance(1)  # the job polls for cancellation at most every half second
    gate.set()
    with raises(Code.OPERATION_CANCELLED):
        run.outcome()

    # The job saw the cancel in the transfer (its progress stopped there), not at the commit
    # point after the whole transfer: progress of large files comes from the engine's worker
    # threads only, and those poll too.
    done = max(e.bytes_done for e in seen)
    assert done < total // 2, f"cancel seen after {done >> 20} MiB of {total >> 20} MiB"
    assert not [e for e in seen if e.phase == "commit"]

    view = jobs.show_job(ctx, VAULT, job.name)
    assert view.status == JobStatus.CANCELLED
    assert view.end_time is not None
    assert view.error_code is None
    assert view.phase is None
    assert task_statuses(ctx, job.name) == {
        TaskName.TAKE_SNAPSHOT: TaskStatus.COMPLETED,
        TaskName.TRANSFER: TaskStatus.CANCELLED,
    }
    row = item_row(ctx)
    assert row.active_job is None
    assert row.protection_state == ProtectionState.IR_PENDING  # a cancel is not a failure
    assert row.last_backup_status is None
    assert recoverypoints.list_recovery_points(ctx, VAULT, ITEM) == []
    assert manifests(ctx) == vault_before

    check = vaults.check(ctx, VAULT)
    assert check.ok, check.problems

    clock.advance(60)
    again = protection.backup_now(ctx, VAULT, ITEM)
    assert again.status == JobStatus.COMPLETED
    assert item_row(ctx).protection_state == ProtectionState.PROTECTED
    assert [p.name for p in recoverypoints.list_recovery_points(ctx, VAULT, ITEM)] == [
        again.recovery_point
    ]
    assert vaults.check(ctx, VAULT).ok
