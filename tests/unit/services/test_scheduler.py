"""The scheduler: catch-up after downtime, concurrency caps, one job per item, retention."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from tests.unit.services.support import (
    DAY,
    ITEM,
    POLICY,
    VAULT,
    item_row,
    manifests,
    packs,
    write_tree,
)

from rsvault.catalog.models import ContainerRow, ItemRow
from rsvault.core.clock import ManualClock
from rsvault.errors import Code
from rsvault.services import containers, jobs, protection, recoverypoints, vaults
from rsvault.services.backups import run_item_backup
from rsvault.services.context import ServiceContext
from rsvault.services.jobrunner import JobOutcome, JobSpec, finish_job, start_job
from rsvault.services.jobs import JobFilter
from rsvault.services.scheduler import Scheduler, plan_tick
from rsvault.services.states import JobStatus, Operation, ProtectionState, Trigger
from rsvault.services.views import JobView


@pytest.fixture
def scheduler(ctx: ServiceContext) -> Iterator[Scheduler]:
    running = Scheduler(ctx)
    yield running
    running.close()


def backup_jobs(ctx: ServiceContext) -> list[JobView]:
    return jobs.list_jobs(ctx, VAULT, JobFilter(operation=Operation.BACKUP))


def protect(ctx: ServiceContext, tmp_path: Path, *names: str) -> None:
    for name in names:
        root = write_tree(tmp_path / f"src-{name}", {"file": name.encode()})
        protection.enable_for_files(ctx, VAULT, POLICY, [str(root)], name)


def test_after_downtime_a_due_item_runs_once(
    ctx: ServiceContext, item: str, clock: ManualClock, scheduler: Scheduler
) -> None:
    clock.advance(5 * DAY)  # five slots missed while nothing ran
    report = scheduler.tick(wait=True)
    assert report.started == [ITEM]
    assert not report.errors
    [job] = backup_jobs(ctx)
    assert (job.status, job.trigger) == (JobStatus.COMPLETED, Trigger.SCHEDULED)
    [point] = recoverypoints.list_recovery_points(ctx, VAULT, ITEM)
    assert point.kind == "Scheduled"
    row = item_row(ctx)
    assert row.next_run is not None
    assert row.next_run > clock.now()
    assert row.next_run == (clock.now() + timedelta(days=1)).replace(hour=2)
    assert row.protection_state == ProtectionState.PROTECTED

    assert scheduler.tick(wait=True).started == []  # nothing more is due until 02:00
    clock.advance(DAY)
    assert scheduler.tick(wait=True).started == [ITEM]
    assert len(backup_jobs(ctx)) == 2


def test_nothing_runs_before_its_time(
    ctx: ServiceContext, item: str, clock: ManualClock, scheduler: Scheduler
) -> None:
    clock.advance(13 * 3600)  # 01:00, an hour before the run time
    assert scheduler.tick(wait=True).started == []
    clock.advance(3600)
    assert scheduler.tick(wait=True).started == [ITEM]


def _due_names(ctx: ServiceContext, clock: ManualClock) -> list[str]:
    return [d.name for d in plan_tick(ctx, clock.now()).due]


def test_caps_per_vault_and_per_container(
    ctx: ServiceContext, item: str, tmp_path: Path, clock: ManualClock
) -> None:
    protect(ctx, tmp_path, "item2", "item3", "item4")
    clock.advance(DAY)
    # Defaults: 4 per vault, 2 per container (all four are on this machine).
    assert _due_names(ctx, clock) == [ITEM, "item2"]
    vaults.update_vault(ctx, VAULT, max_concurrent_backups=1)
    assert _due_names(ctx, clock) == [ITEM]

    # Two containers of one slot each, under a vault cap of four.
    vaults.update_vault(ctx, VAULT, max_concurrent_backups=4)
    [here] = containers.list_containers(ctx, VAULT)
    containers.update_container(ctx, VAULT, here.name, max_concurrent_backups=1)
    with ctx.catalog.unit_of_work() as session:
        other = ContainerRow(
            vault_name=VAULT,
            name="other-server",
            kind="Server",
            registered=clock.now(),
            max_concurrent_backups=1,
        )
        session.add(other)
        session.flush()
        session.execute(
            update(ItemRow)
            .where(ItemRow.name.in_(["item3", "item4"]))
            .values(container_id=other.id)
        )
    plan = plan_tick(ctx, clock.now())
    assert [d.name for d in plan.due] == [ITEM, "item3"]
    # Backups about to start (handed to workers) count like running ones.
    assert [d.name for d in plan_tick(ctx, clock.now(), plan.due[:1]).due] == ["item3"]
    assert plan_tick(ctx, clock.now(), plan.due).due == []

    # A running backup holds its item and its container's slot.
    holder = start_job(
        ctx, JobSpec(VAULT, Operation.BACKUP, item_id=item_row(ctx, "item3").id, item_name="item3")
    )
    assert _due_names(ctx, clock) == [ITEM]
    finish_job(ctx, holder, JobOutcome())
    assert _due_names(ctx, clock) == [ITEM, "item3"]


def test_with_a_cap_of_one_items_run_one_per_tick(
    ctx: ServiceContext, item: str, tmp_path: Path, clock: ManualClock, scheduler: Scheduler
) -> None:
    protect(ctx, tmp_path, "item2", "item3")
    vaults.update_vault(ctx, VAULT, max_concurrent_backups=1)
    clock.advance(DAY)
    started = [scheduler.tick(wait=True).started for _ in range(4)]
    assert started == [[ITEM], ["item2"], ["item3"], []]
    assert sorted(j.item or "" for j in backup_jobs(ctx)) == [ITEM, "item2", "item3"]
    assert all(j.status == JobStatus.COMPLETED for j in backup_jobs(ctx))


def test_ticks_in_quick_succession_never_start_two_jobs_on_one_item(
    ctx: ServiceContext, item: str, tmp_path: Path, clock: ManualClock, scheduler: Scheduler
) -> None:
    protect(ctx, tmp_path, "item2", "item3")
    vaults.update_vault(ctx, VAULT, max_concurrent_backups=10)
    containers.update_container(
        ctx, VAULT, containers.list_containers(ctx, VAULT)[0].name, max_concurrent_backups=10
    )
    clock.advance(DAY)
    for _ in range(5):
        scheduler.tick()  # no waiting: the backups of one tick may still run at the next
    scheduler.wait()
    assert sorted(j.item or "" for j in backup_jobs(ctx)) == [ITEM, "item2", "item3"]
    assert all(j.status == JobStatus.COMPLETED for j in backup_jobs(ctx))


def test_an_item_held_by_another_job_is_not_started(
    ctx: ServiceContext, item: str, clock: ManualClock, scheduler: Scheduler
) -> None:
    clock.advance(DAY)
    due = item_row(ctx).next_run
    holder = start_job(
        ctx, JobSpec(VAULT, Operation.BACKUP, item_id=item_row(ctx).id, item_name=ITEM)
    )
    assert scheduler.tick(wait=True).started == []
    assert item_row(ctx).next_run == due  # still due: it runs once the item is free
    finish_job(ctx, holder, JobOutcome())
    assert scheduler.tick(wait=True).started == [ITEM]
    assert item_row(ctx).next_run != due


def test_stopped_and_deleted_items_are_not_scheduled(
    ctx: ServiceContext, item: str, tmp_path: Path, clock: ManualClock, scheduler: Scheduler
) -> None:
    protect(ctx, tmp_path, "item2", "item3")
    protection.disable(ctx, VAULT, "item2")
    protection.disable(ctx, VAULT, "item3", delete_backup_data=True)
    clock.advance(DAY)
    assert scheduler.tick(wait=True).started == [ITEM]


def test_retention_expires_points_and_prune_reclaims_their_data(
    ctx: ServiceContext, item: str, source: Path, clock: ManualClock, scheduler: Scheduler
) -> None:
    """Each day's point holds its own 256 KiB: once it expires, its pack goes too."""
    sizes = []
    for day in range(1, 21):
        (source / f"day{day - 1}.bin").unlink(missing_ok=True)
        write_tree(source, {f"day{day}.bin": os.urandom(256 << 10)})
        clock.advance(DAY)
        report = scheduler.tick(wait=True)
        assert report.started == [ITEM]
        assert not report.errors
        kept = recoverypoints.list_recovery_points(ctx, VAULT, ITEM)
        assert len(kept) == min(day, 7)
        assert manifests(ctx) == {p.name for p in kept}
        sizes.append(packs(ctx))
    count, stored = sizes[-1]
    assert count <= 9, sizes  # 7 kept, one condemned in its grace period, maybe a repack
    assert stored < 10 * (256 << 10), sizes
    assert max(n for n, _ in sizes) <= 10, sizes
    prunes = jobs.list_jobs(ctx, VAULT, JobFilter(operation=Operation.PRUNE))
    assert prunes
    assert all(p.status == JobStatus.COMPLETED for p in prunes)
    assert sum(jobs.show_job(ctx, VAULT, p.name).stats["packs_deleted"] for p in prunes) > 0
    assert vaults.check(ctx, VAULT).ok


def test_the_newest_point_is_kept_when_backups_keep_failing(
    ctx: ServiceContext, item: str, source: Path, clock: ManualClock, scheduler: Scheduler
) -> None:
    clock.advance(DAY)
    scheduler.tick(wait=True)
    clock.advance(DAY)
    scheduler.tick(wait=True)
    [_, newest] = recoverypoints.list_recovery_points(ctx, VAULT, ITEM)
    shutil.rmtree(source)
    for _ in range(30):
        clock.advance(DAY)
        report = scheduler.tick(wait=True)
        assert report.started == [ITEM]
        assert [e.split(":")[0] for e in report.errors] == [Code.BACKUP_SOURCE_NOT_FOUND.value]
    assert [p.name for p in recoverypoints.list_recovery_points(ctx, VAULT, ITEM)] == [newest.name]
    assert manifests(ctx) == {newest.name}
    row = item_row(ctx)
    assert row.protection_state == ProtectionState.PROTECTION_ERROR
    assert row.last_error_code == Code.BACKUP_SOURCE_NOT_FOUND.value


def test_an_item_stopped_while_its_backup_waits_for_a_worker_is_not_backed_up(
    ctx: ServiceContext,
    item: str,
    tmp_path: Path,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With one worker, item2's backup waits in the queue behind item1's; it is stopped
    meanwhile, so when its turn comes there is nothing to do."""
    protect(ctx, tmp_path, "item2")
    gate = threading.Event()

    def held(*args: Any, **kwargs: Any) -> Any:
        gate.wait(30)
        return run_item_backup(*args, **kwargs)

    monkeypatch.setattr("rsvault.services.scheduler.run_item_backup", held)
    clock.advance(DAY)
    one_worker = Scheduler(ctx, workers=1)
    try:
        report = one_worker.tick()
        assert report.started == [ITEM, "item2"]
        protection.disable(ctx, VAULT, "item2")  # not locked yet: its job has not started
        gate.set()
        one_worker.wait()
    finally:
        one_worker.close()
    assert [j.item for j in backup_jobs(ctx)] == [ITEM]
    row = item_row(ctx, "item2")
    assert row.protection_state == ProtectionState.PROTECTION_STOPPED
    assert row.next_run is None
    assert recoverypoints.list_recovery_points(ctx, VAULT, "item2") == []


def test_run_forever_ticks_and_sleeps_until_told_to_stop(
    ctx: ServiceContext, item: str, clock: ManualClock, scheduler: Scheduler
) -> None:
    ticks = iter(range(3))
    scheduler.run_forever(lambda: next(ticks, None) is None)
    # The manual clock sleeps by moving: at most 30 s per idle wait, so no backup yet.
    assert backup_jobs(ctx) == []
    clock.advance(DAY)
    ticks = iter(range(1))
    scheduler.run_forever(lambda: next(ticks, None) is None)
    scheduler.wait()
    assert [j.item for j in backup_jobs(ctx)] == [ITEM]
