"""Running an operation as a job: recorded as it starts and ends, one per item, cancellable.

The item lock is a column (`items.active_job`) taken with a conditional UPDATE in the same
transaction that inserts the job, so two processes (or a scheduler and a user) can never both
hold it, on SQLite or PostgreSQL. It is released in the transaction that ends the job.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from rsvault.catalog.database import rows_changed
from rsvault.catalog.models import ItemRow, JobRow, JobTaskRow
from rsvault.engine.progress import Progress, ProgressSink
from rsvault.errors import Code, JobWarning, RsvaultError
from rsvault.services.context import ServiceContext
from rsvault.services.jobs import job_view, note_backup_end, reconcile_lost_jobs
from rsvault.services.liveness import current_process
from rsvault.services.recoverypoints import RecoveryPointFacts, record_recovery_point
from rsvault.services.states import (
    JobStatus,
    Operation,
    TaskStatus,
    Trigger,
)
from rsvault.services.views import JobView

COMMIT_PHASE = "Committing"
_CANCEL_POLL_SECONDS = 0.25


@dataclass(frozen=True)
class JobSpec:
    vault_name: str
    operation: Operation
    item_id: int | None = None
    item_name: str | None = None
    trigger: Trigger = Trigger.USER
    tasks: Sequence[str] = ()
    # Set by the scheduler: the item's next run, moved in the transaction that takes the lock.
    on_start: Callable[[Session, ItemRow], None] | None = None


@dataclass
class JobOutcome:
    stats: Mapping[str, object] = field(default_factory=dict)
    warnings: Sequence[JobWarning] = ()
    recovery_point: RecoveryPointFacts | None = None
    restored_from: str | None = None
    error: RsvaultError | None = None
    bytes_read: int = 0
    bytes_transferred: int = 0
    bytes_stored: int = 0


class JobHandle:
    """What the work sees of its job: sub-tasks, cancellation, the commit point."""

    def __init__(self, ctx: ServiceContext, name: str) -> None:
        self.ctx = ctx
        self.name = name
        self._owner = threading.get_ident()
        self._next_poll = 0.0
        self._poll_lock = threading.Lock()
        self._cancelled = False

    @contextmanager
    def task(self, name: str) -> Iterator[None]:
        self._set_task(name, TaskStatus.IN_PROGRESS)
        try:
            yield
        except RsvaultError as exc:
            cancelled = exc.code is Code.OPERATION_CANCELLED
            self._set_task(name, TaskStatus.CANCELLED if cancelled else TaskStatus.FAILED)
            raise
        except BaseException:
            self._set_task(name, TaskStatus.FAILED)
            raise
        self._set_task(name, TaskStatus.COMPLETED)

    def raise_if_cancelled(self) -> None:
        if not self._cancelled:
            with self.ctx.catalog.unit_of_work() as session:
                self._cancelled = bool(
                    session.scalar(select(JobRow.cancel_requested).where(JobRow.name == self.name))
                )
        if self._cancelled:  # once seen, every later check fails at once
            raise RsvaultError(Code.OPERATION_CANCELLED)

    def enter_commit(self) -> None:
        """From here on the job finishes: cancelling is refused, unless it already was asked."""
        with self.ctx.catalog.unit_of_work() as session:
            moved = rows_changed(
                session.execute(
                    update(JobRow)
                    .where(JobRow.name == self.name, JobRow.cancel_requested.is_(False))
                    .values(phase=COMMIT_PHASE)
                )
            )
        if not moved:
            raise RsvaultError(Code.OPERATION_CANCELLED)

    def watch(self, sink: ProgressSink, *, any_thread: bool = False) -> ProgressSink:
        """A progress sink that also polls for cancellation, on the job's own thread only;
        with `any_thread`, on every thread. That is for pipelines whose workers hand their
        failures back to the job's thread (the backup engine does): a backup of a few large
        files reports progress from its workers alone, so polling on the job's thread only
        would notice a cancel at the commit, after the whole transfer."""

        def watched(event: Progress) -> None:
            if event.phase == "commit":
                self.enter_commit()
            elif (any_thread or threading.get_ident() == self._owner) and (
                self._cancelled or self._poll_due()
            ):
                self.raise_if_cancelled()
            sink(event)

        return watched

    def _poll_due(self) -> bool:
        with self._poll_lock:
            now = self.ctx.clock.monotonic()
            if now < self._next_poll:
                return False
            self._next_poll = now + _CANCEL_POLL_SECONDS
            return True

    def _set_task(self, name: str, status: TaskStatus) -> None:
        moment = self.ctx.clock.now()
        with self.ctx.catalog.unit_of_work() as session:
            task = session.scalar(
                select(JobTaskRow).where(JobTaskRow.job_name == self.name, JobTaskRow.name == name)
            )
            if task is None:
                return
            task.status = status
            if status is TaskStatus.IN_PROGRESS:
                task.start_time = moment
                session.execute(update(JobRow).where(JobRow.name == self.name).values(phase=name))
            else:
                task.end_time = moment


def run_job(ctx: ServiceContext, spec: JobSpec, work: Callable[[JobHandle], JobOutcome]) -> JobView:
    """Record a job around `work`. A failure is recorded with its code, then raised."""
    name = start_job(ctx, spec)
    handle = JobHandle(ctx, name)
    try:
        outcome = work(handle)
    except RsvaultError as exc:
        outcome = JobOutcome(error=exc)
    except KeyboardInterrupt:
        finish_job(ctx, name, JobOutcome(error=RsvaultError(Code.OPERATION_CANCELLED)))
        raise
    except BaseException as exc:  # a defect: the job must not stay InProgress
        finish_job(ctx, name, JobOutcome(error=RsvaultError(Code.INTERNAL_ERROR, reason=repr(exc))))
        raise
    try:
        view = finish_job(ctx, name, outcome)
    except Exception as exc:  # the catalog refused the ending: still never leave it running
        _fail_plainly(ctx, name, exc)
        raise RsvaultError(Code.INTERNAL_ERROR, reason=repr(exc), detail=f"job {name}") from exc
    if outcome.error is not None:
        prefix = f"job {name}"
        detail = outcome.error.detail
        outcome.error.detail = f"{prefix}; {detail}" if detail else prefix
        raise outcome.error
    return view


def start_job(ctx: ServiceContext, spec: JobSpec) -> str:
    try:
        return _try_start(ctx, spec)
    except RsvaultError as exc:
        if exc.code is not Code.BACKUP_OPERATION_IN_PROGRESS or not reconcile_lost_jobs(ctx):
            raise
    return _try_start(ctx, spec)  # the holder was a dead process, now failed: once more


def _try_start(ctx: ServiceContext, spec: JobSpec) -> str:
    name = secrets.token_hex(8)
    me = current_process()
    with ctx.catalog.unit_of_work() as session:
        if spec.item_id is not None:
            _lock_item(session, spec, name)
        session.add(
            JobRow(
                name=name,
                vault_name=spec.vault_name,
                operation=spec.operation.value,
                status=JobStatus.IN_PROGRESS.value,
                item=spec.item_name,
                item_id=spec.item_id,
                trigger=spec.trigger.value,
                start_time=ctx.clock.now(),
                pid=me.pid,
                host=me.host,
                process_started=me.started,
                cancel_requested=False,
                stats={},
                warnings=[],
            )
        )
        for position, task in enumerate(spec.tasks):
            session.add(
                JobTaskRow(
                    job_name=name, position=position, name=task, status=TaskStatus.NOT_STARTED
                )
            )
    return name


def _lock_item(session: Session, spec: JobSpec, job: str) -> None:
    taken = rows_changed(
        session.execute(
            update(ItemRow)
            .where(ItemRow.id == spec.item_id, ItemRow.active_job.is_(None))
            .values(active_job=job)
        )
    )
    if not taken:
        holder = session.scalar(select(ItemRow.active_job).where(ItemRow.id == spec.item_id))
        raise RsvaultError(
            Code.BACKUP_OPERATION_IN_PROGRESS, item=spec.item_name, detail=f"running job {holder}"
        )
    if spec.on_start is not None:
        item = session.get(ItemRow, spec.item_id)
        assert item is not None
        spec.on_start(session, item)


def plain_params(params: Mapping[str, object]) -> dict[str, object]:
    """Message parameters as JSON can hold them: numbers stay numbers, the rest become text."""
    return {
        key: value if isinstance(value, int | float | bool) else str(value)
        for key, value in params.items()
        if value is not None
    }


def finish_job(ctx: ServiceContext, name: str, outcome: JobOutcome) -> JobView:
    now = ctx.clock.now()
    with ctx.catalog.unit_of_work() as session:
        row = session.get(JobRow, name)
        assert row is not None, "a job row disappeared while its job ran"
        row.end_time = now
        row.phase = None
        row.status = _final_status(outcome)
        row.stats = dict(outcome.stats)
        row.bytes_read = outcome.bytes_read
        row.bytes_transferred = outcome.bytes_transferred
        row.bytes_stored = outcome.bytes_stored
        row.warnings = [
            {
                "code": w.code.value,
                "path": w.path,
                "message": w.message(),
                "params": plain_params(w.params),
            }
            for w in outcome.warnings
        ]
        if outcome.error is not None and row.status == JobStatus.FAILED:
            row.error_code = outcome.error.code.value
            row.error_message = outcome.error.report().message
            row.error_params = plain_params(outcome.error.params)
        _close_open_tasks(session, name, row.status, now)
        if outcome.recovery_point is not None:
            row.recovery_point = outcome.recovery_point.name
        elif outcome.restored_from is not None:
            row.recovery_point = outcome.restored_from
        if row.item_id is not None:
            _release_item(session, row, outcome)
        return job_view(session, row)


def _fail_plainly(ctx: ServiceContext, name: str, cause: Exception) -> None:
    """The least that must happen when recording a job's end failed: Failed, item unlocked."""
    message = RsvaultError(Code.INTERNAL_ERROR, reason=repr(cause)).report().message
    with ctx.catalog.unit_of_work() as session:
        session.execute(
            update(JobRow)
            .where(JobRow.name == name)
            .values(
                status=JobStatus.FAILED,
                end_time=ctx.clock.now(),
                phase=None,
                error_code=Code.INTERNAL_ERROR.value,
                error_message=message,
            )
        )
        session.execute(update(ItemRow).where(ItemRow.active_job == name).values(active_job=None))


def _final_status(outcome: JobOutcome) -> JobStatus:
    if outcome.error is None:
        return JobStatus.COMPLETED_WITH_WARNINGS if outcome.warnings else JobStatus.COMPLETED
    if outcome.error.code is Code.OPERATION_CANCELLED:
        return JobStatus.CANCELLED
    return JobStatus.FAILED


def _close_open_tasks(session: Session, job: str, status: str, now: datetime) -> None:
    ending = {
        JobStatus.CANCELLED: TaskStatus.CANCELLED,
        JobStatus.FAILED: TaskStatus.FAILED,
    }.get(JobStatus(status), TaskStatus.SKIPPED)
    for task in session.scalars(select(JobTaskRow).where(JobTaskRow.job_name == job)):
        if task.status == TaskStatus.IN_PROGRESS:
            task.status = ending
            task.end_time = now
        elif task.status == TaskStatus.NOT_STARTED:
            task.status = ending


def _release_item(session: Session, job: JobRow, outcome: JobOutcome) -> None:
    item = session.get(ItemRow, job.item_id)
    if item is None:
        return
    if item.active_job == job.name:
        item.active_job = None
    if job.operation != Operation.BACKUP or job.status == JobStatus.CANCELLED:
        return
    if outcome.recovery_point is not None:
        record_recovery_point(session, item, outcome.recovery_point)
    note_backup_end(item, job)
