"""The scheduler: fires due backups within the concurrency caps, then enforces retention.

A service, not CLI code: `rsvault scheduler run` drives it now, the server will host it later.
Each tick plans from the catalog alone (indexed queries on `items.next_run` and
`recovery_points.expiry`), so it stays fast with many items. An item's next run moves to the
first slot after *now* when its backup starts, so after downtime an item runs once, not once
per missed slot.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Collection
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from rsvault.catalog.database import rows_changed
from rsvault.catalog.models import ContainerRow, ItemRow, JobRow, VaultRow
from rsvault.errors import Code, RsvaultError
from rsvault.services.backups import ItemBackup, run_item_backup
from rsvault.services.context import ServiceContext
from rsvault.services.inventory import policy_of
from rsvault.services.items import next_run_of
from rsvault.services.jobs import FINAL_PHASES, reconcile_lost_jobs
from rsvault.services.liveness import current_process
from rsvault.services.retention import (
    enforce_retention,
    expired_points_by_vault,
    items_to_purge_by_vault,
    vaults_to_sweep,
)
from rsvault.services.states import (
    ACTIVE_STATES,
    RUNNING,
    DeleteState,
    ItemKind,
    JobStatus,
    Operation,
    PointKind,
    Trigger,
)
from rsvault.services.vaults import open_vault
from rsvault.services.views import View
from rsvault.vault.repository import Vault

log = logging.getLogger(__name__)

IDLE_POLL_SECONDS = 30.0


@dataclass(frozen=True)
class DueItem:
    item_id: int
    name: str
    vault_name: str
    container_id: int
    next_run: datetime


@dataclass
class TickPlan:
    """What one tick would do: backups to start, and retention work per vault."""

    due: list[DueItem] = field(default_factory=list)
    expiring: dict[str, list[str]] = field(default_factory=dict)
    purging: dict[str, list[int]] = field(default_factory=dict)
    sweeping: list[str] = field(default_factory=list)  # vaults whose condemned packs are due


@dataclass
class TickReport(View):
    started: list[str] = field(default_factory=list)
    retention_jobs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def plan_tick(ctx: ServiceContext, now: datetime, starting: Collection[DueItem] = ()) -> TickPlan:
    """Due items within the caps, and what retention would remove, from the catalog alone.

    `starting` are backups handed to workers whose jobs may not be recorded yet: they count
    against the caps like running ones.
    """
    with ctx.catalog.unit_of_work() as session:
        return TickPlan(
            due=_due_within_caps(session, now, starting),
            expiring=expired_points_by_vault(session, now),
            purging=items_to_purge_by_vault(session, now),
            sweeping=vaults_to_sweep(session, now),
        )


def _due_within_caps(
    session: Session, now: datetime, starting: Collection[DueItem]
) -> list[DueItem]:
    busy = {item.item_id for item in starting}
    due = [
        DueItem(item_id, name, vault_name, container_id, next_run or now)
        for item_id, name, vault_name, container_id, next_run in session.execute(
            select(
                ItemRow.id, ItemRow.name, ItemRow.vault_name, ItemRow.container_id, ItemRow.next_run
            )
            .where(
                ItemRow.next_run <= now,
                ItemRow.protection_state.in_(ACTIVE_STATES),
                ItemRow.delete_state == DeleteState.NOT_DELETED,
                ItemRow.policy_id.is_not(None),
                ItemRow.active_job.is_(None),
                ItemRow.kind == ItemKind.FILES,
            )
            .order_by(ItemRow.next_run, ItemRow.id)
        )
    ]
    due = [item for item in due if item.item_id not in busy]
    if not due:
        return []
    per_vault, per_container = _running_backups(session, starting)
    vault_caps = dict(session.execute(select(VaultRow.name, VaultRow.max_concurrent_backups)).all())
    container_caps = dict(
        session.execute(select(ContainerRow.id, ContainerRow.max_concurrent_backups)).all()
    )
    chosen = []
    for item in due:
        if per_vault[item.vault_name] >= vault_caps.get(item.vault_name, 1):
            continue
        if per_container[item.container_id] >= container_caps.get(item.container_id, 1):
            continue
        per_vault[item.vault_name] += 1
        per_container[item.container_id] += 1
        chosen.append(item)
    return chosen


def _running_backups(
    session: Session, starting: Collection[DueItem]
) -> tuple[Counter[str], Counter[int]]:
    running = {
        item_id: (vault_name, container_id)
        for item_id, vault_name, container_id in session.execute(
            select(ItemRow.id, JobRow.vault_name, ItemRow.container_id)
            .join(ItemRow, ItemRow.id == JobRow.item_id)
            .where(JobRow.status.in_(RUNNING), JobRow.operation == Operation.BACKUP)
        )
    }
    for item in starting:  # counted once, whether or not its job row exists yet
        running[item.item_id] = (item.vault_name, item.container_id)
    per_vault: Counter[str] = Counter(vault for vault, _ in running.values())
    per_container: Counter[int] = Counter(container for _, container in running.values())
    return per_vault, per_container


def _still_due(item: ItemRow, now: datetime) -> bool:
    return (
        item.protection_state in ACTIVE_STATES
        and item.delete_state == DeleteState.NOT_DELETED
        and item.next_run is not None
        and item.next_run <= now
    )


class Scheduler:
    """Runs ticks; backups run on worker threads so one slow item never holds up the rest."""

    def __init__(self, ctx: ServiceContext, workers: int = 4) -> None:
        self.ctx = ctx
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="backup")
        self._starting: dict[Future[object], DueItem] = {}
        self._vaults: dict[tuple[str, int], Vault] = {}
        self._lock = threading.Lock()

    def tick(self, *, wait: bool = False) -> TickReport:
        """Start what is due; with `wait`, also let the backups end before retention runs."""
        report = TickReport()
        reconcile_lost_jobs(self.ctx)
        self._forget_finished()
        plan = plan_tick(self.ctx, self.ctx.clock.now(), list(self._starting.values()))
        for item in plan.due:
            self._start(item, report)
        if wait:
            self.wait()
        for vault_name in sorted(set(plan.expiring) | set(plan.purging) | set(plan.sweeping)):
            self._guarded(report, partial(self._retention, vault_name, report))
        return report

    def run_forever(
        self,
        should_stop: Callable[[], bool] = lambda: False,
        pause: Callable[[float], object] | None = None,
    ) -> None:
        """Tick until `should_stop`; between ticks `pause` (the clock's sleep by default; a
        stop event's wait, so that a stop ends the pause at once)."""
        nap = pause or self.ctx.clock.sleep
        while not should_stop():
            report = self.tick()
            for error in report.errors:
                log.warning("scheduler: %s", error)
            idle_until = self.ctx.clock.monotonic() + self._idle_seconds()
            while not should_stop() and self.ctx.clock.monotonic() < idle_until:
                nap(1.0)

    def cancel_running(self) -> int:
        """Ask this process's running jobs to cancel (a stop of the scheduler): they end
        Cancelled at their next check, leaving nothing half-written."""
        me = current_process()
        with self.ctx.catalog.unit_of_work() as session:
            return rows_changed(
                session.execute(
                    update(JobRow)
                    .where(
                        JobRow.status == JobStatus.IN_PROGRESS,
                        JobRow.host == me.host,
                        JobRow.pid == me.pid,
                        or_(JobRow.phase.is_(None), JobRow.phase.not_in(FINAL_PHASES)),
                    )
                    .values(cancel_requested=True, status=JobStatus.CANCELLING)
                )
            )

    def wait(self) -> None:
        for future in list(self._starting):
            future.exception()  # failures are recorded on their jobs already
        self._forget_finished()

    def close(self) -> None:
        self.wait()
        self._pool.shutdown(wait=True)

    def _forget_finished(self) -> None:
        for future in [f for f in self._starting if f.done()]:
            del self._starting[future]

    def _start(self, due: DueItem, report: TickReport) -> None:
        def run() -> object:
            backup = self._backup_of(due)
            if backup is None:
                return None
            return run_item_backup(self.ctx, backup, self._vault(due.vault_name))

        report.started.append(due.name)
        self._starting[self._pool.submit(self._guarded, report, run)] = due

    def _backup_of(self, due: DueItem) -> ItemBackup | None:
        """The backup to run, read again: a backup may wait for a worker a long time, and
        its item may have been stopped, deleted or moved to another time meanwhile."""
        with self.ctx.catalog.unit_of_work() as session:
            item = session.get(ItemRow, due.item_id)
            policy = policy_of(session, item) if item else None
            if item is None or policy is None or not _still_due(item, self.ctx.clock.now()):
                return None

            def move_next_run(_session: Session, locked: ItemRow) -> None:
                if not _still_due(locked, self.ctx.clock.now()):  # changed since read above
                    raise RsvaultError(
                        Code.ITEM_NOT_ACTIVELY_PROTECTED,
                        name=locked.name,
                        state=locked.protection_state,
                    )
                locked.next_run = next_run_of(policy, self.ctx.clock.now())

            return ItemBackup.of(
                item, Trigger.SCHEDULED, PointKind.SCHEDULED, on_start=move_next_run
            )

    def _retention(self, vault_name: str, report: TickReport) -> None:
        job = enforce_retention(self.ctx, vault_name, self._vault(vault_name))
        if job is not None:
            report.retention_jobs.append(job.name)

    def _vault(self, name: str) -> Vault:
        """One opened vault per worker thread: a Vault object is not shared between threads."""
        key = (name, threading.get_ident())
        with self._lock:
            vault = self._vaults.get(key)
        if vault is None:
            vault = open_vault(self.ctx, name)
            with self._lock:
                self._vaults[key] = vault
        return vault

    @staticmethod
    def _guarded(report: TickReport, work: Callable[[], object]) -> object:
        try:
            return work()
        except RsvaultError as exc:
            report.errors.append(f"{exc.code.value}: {exc}")
            return None
        except Exception as exc:  # a defect: one item's bug must not stop the scheduler
            log.exception("scheduler: unexpected failure")
            report.errors.append(f"{Code.INTERNAL_ERROR.value}: {exc!r}")
            return None

    def _idle_seconds(self) -> float:
        with self.ctx.catalog.unit_of_work() as session:
            soonest = session.scalar(
                select(func.min(ItemRow.next_run)).where(
                    ItemRow.protection_state.in_(ACTIVE_STATES)
                )
            )
        if soonest is None:
            return IDLE_POLL_SECONDS
        wait = (soonest - self.ctx.clock.now()).total_seconds()
        return max(1.0, min(IDLE_POLL_SECONDS, wait))
