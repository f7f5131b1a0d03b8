"""Jobs as users see them: list, show, stop (cancel), wait; and failing jobs whose process died."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from rsvault.catalog.database import rows_changed
from rsvault.catalog.models import ItemRow, JobRow, JobTaskRow
from rsvault.errors import Code, RsvaultError
from rsvault.services.context import ServiceContext
from rsvault.services.inventory import vault_row
from rsvault.services.liveness import is_lost
from rsvault.services.states import (
    ACTIVE_STATES,
    RUNNING,
    ItemKind,
    JobStatus,
    Operation,
    ProtectionState,
    TaskName,
    TaskStatus,
)
from rsvault.services.troubleshoot import advice
from rsvault.services.views import JobView, iso, iso_or_none

# Jobs that can be cancelled; the others are short catalog changes that run to the end.
CANCELLABLE_OPERATIONS = (Operation.BACKUP, Operation.RESTORE)
# Phases past the point of no return: the job is writing what makes its result visible.
FINAL_PHASES = ("Committing", "Creating VM")
DEFAULT_LIST_WINDOW = timedelta(days=7)
_WAIT_POLL_SECONDS = 0.5


def job_view(session: Session, row: JobRow) -> JobView:
    """Everything about a job: its summary, sub-tasks, stats and warnings."""
    query = select(JobTaskRow).where(JobTaskRow.job_name == row.name)
    view = _summary_view(row)
    view.sub_tasks = [
        {
            "name": t.name,
            "status": t.status,
            "startTime": iso_or_none(t.start_time),
            "endTime": iso_or_none(t.end_time),
        }
        for t in session.scalars(query.order_by(JobTaskRow.position))
    ]
    view.stats = dict(row.stats or {})
    view.warnings = list(row.warnings or [])
    return view


@dataclass(frozen=True)
class JobFilter:
    status: str | None = None
    operation: str | None = None
    start: datetime | None = None
    end: datetime | None = None


def list_jobs(
    ctx: ServiceContext, vault_name: str, wanted: JobFilter = JobFilter()
) -> list[JobView]:
    """Jobs of a vault, newest first; without a start date, those of the last 7 days."""
    reconcile_lost_jobs(ctx)
    start = wanted.start or ctx.clock.now() - DEFAULT_LIST_WINDOW
    query = select(*_SUMMARY).where(JobRow.vault_name == vault_name, JobRow.start_time >= start)
    if wanted.end is not None:
        query = query.where(JobRow.start_time <= wanted.end)
    if wanted.status:
        query = query.where(JobRow.status == wanted.status)
    if wanted.operation:
        query = query.where(JobRow.operation == wanted.operation)
    with ctx.catalog.unit_of_work() as session:
        vault_row(session, vault_name)
        rows = session.execute(query.order_by(JobRow.start_time.desc())).all()
    return [_summary_view(row) for row in rows]


# What `job list` shows of each job; `job show` adds sub-tasks, stats and warnings. Reading only
# these columns keeps a list of thousands of jobs fast.
_SUMMARY = (
    JobRow.name,
    JobRow.operation,
    JobRow.status,
    JobRow.vault_name,
    JobRow.item,
    JobRow.start_time,
    JobRow.end_time,
    JobRow.trigger,
    JobRow.phase,
    JobRow.error_code,
    JobRow.error_message,
    JobRow.recovery_point,
    JobRow.bytes_read,
    JobRow.bytes_transferred,
    JobRow.bytes_stored,
)


def _summary_view(row: Any) -> JobView:  # a JobRow, or a Row of the _SUMMARY columns
    ended = row.end_time
    return JobView(
        name=row.name,
        operation=row.operation,
        status=row.status,
        vault_name=row.vault_name,
        item=row.item,
        start_time=iso(row.start_time),
        end_time=iso_or_none(ended),
        duration=round((ended - row.start_time).total_seconds(), 1) if ended else None,
        trigger=row.trigger,
        phase=row.phase,
        error_code=row.error_code,
        error_message=row.error_message,
        recovery_point=row.recovery_point,
        bytes_read=row.bytes_read or 0,
        bytes_transferred=row.bytes_transferred or 0,
        bytes_stored=row.bytes_stored or 0,
    )


def show_job(ctx: ServiceContext, vault_name: str, name: str, language: str = "en") -> JobView:
    """A job with its sub-tasks, and for its error and warnings, what to do."""
    reconcile_lost_jobs(ctx)
    with ctx.catalog.unit_of_work() as session:
        row = _job(session, vault_name, name)
        view = job_view(session, row)
        view.advice = _advice(row, language)
        return view


def _advice(row: JobRow, language: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if row.error_code:
        found.append(advice(row.error_code, row.error_params or {}, language))
    # one pass: a job may carry thousands of warnings (every unreadable file)
    counts: Counter[str] = Counter()
    firsts: dict[str, dict[str, Any]] = {}
    for warning in row.warnings or []:
        code = str(warning.get("code"))
        counts[code] += 1
        firsts.setdefault(code, warning)
    for code, first in firsts.items():
        count = counts[code]
        extra = first.get("params")
        params = {"path": first.get("path", ""), **(extra if isinstance(extra, dict) else {})}
        found.append(advice(code, params, language, count=count))
    return found


def stop_job(ctx: ServiceContext, vault_name: str, name: str) -> JobView:
    """Ask a running job to cancel. The job's own process stops at its next check."""
    reconcile_lost_jobs(ctx)
    with ctx.catalog.unit_of_work() as session:
        row = _job(session, vault_name, name)
        _refuse_cancel(session, row)
        asked = rows_changed(
            session.execute(
                update(JobRow)
                .where(
                    JobRow.name == name,
                    JobRow.status == JobStatus.IN_PROGRESS,
                    or_(JobRow.phase.is_(None), JobRow.phase.not_in(FINAL_PHASES)),
                )
                .values(cancel_requested=True, status=JobStatus.CANCELLING)
            )
        )
    if not asked:  # it moved on between the read and the update: say where it is now
        with ctx.catalog.unit_of_work() as session:
            _refuse_cancel(session, _job(session, vault_name, name))
    return show_job(ctx, vault_name, name)


def _refuse_cancel(session: Session, row: JobRow) -> None:
    if row.operation not in CANCELLABLE_OPERATIONS:
        raise RsvaultError(Code.JOB_CANCEL_NOT_SUPPORTED, name=row.name, operation=row.operation)
    if row.status not in RUNNING:
        raise RsvaultError(Code.JOB_NOT_IN_PROGRESS, name=row.name, status=row.status)
    if row.status == JobStatus.CANCELLING:
        raise RsvaultError(Code.JOB_NOT_CANCELLABLE, name=row.name, phase=JobStatus.CANCELLING)
    if row.phase in FINAL_PHASES or _vm_transfer(session, row):
        raise RsvaultError(Code.JOB_NOT_CANCELLABLE, name=row.name, phase=row.phase)


def _vm_transfer(session: Session, row: JobRow) -> bool:
    """Azure's rule for VM backups: cancel while taking the snapshot, not during transfer."""
    if row.phase != TaskName.TRANSFER or row.item_id is None:
        return False
    return session.scalar(select(ItemRow.kind).where(ItemRow.id == row.item_id)) == ItemKind.VM


def wait_job(ctx: ServiceContext, vault_name: str, name: str, timeout: float | None) -> JobView:
    deadline = None if timeout is None else ctx.clock.monotonic() + timeout
    while True:
        view = show_job(ctx, vault_name, name)
        if view.status not in RUNNING:
            return view
        if deadline is not None and ctx.clock.monotonic() >= deadline:
            raise RsvaultError(
                Code.JOB_WAIT_TIMED_OUT, name=name, seconds=timeout, status=view.status
            )
        ctx.clock.sleep(_WAIT_POLL_SECONDS)


def reconcile_lost_jobs(ctx: ServiceContext) -> int:
    """Fail the running jobs whose process is gone, and free their items. Returns how many."""
    with ctx.catalog.unit_of_work() as session:
        running = session.scalars(select(JobRow).where(JobRow.status.in_(RUNNING))).all()
        lost = [row for row in running if is_lost(row.host, row.pid, row.process_started)]
        for row in lost:
            _fail_lost(session, row, ctx.clock.now())
        return len(lost)


def _fail_lost(session: Session, row: JobRow, now: datetime) -> None:
    row.status = JobStatus.FAILED
    row.end_time = now
    row.phase = None
    row.error_code = Code.JOB_PROCESS_LOST.value
    error = RsvaultError(Code.JOB_PROCESS_LOST, pid=row.pid, host=row.host)
    row.error_message = error.report().message
    for task in session.scalars(select(JobTaskRow).where(JobTaskRow.job_name == row.name)):
        if task.status in (TaskStatus.IN_PROGRESS, TaskStatus.NOT_STARTED):
            task.status = TaskStatus.FAILED
            task.end_time = now
    item = session.get(ItemRow, row.item_id) if row.item_id is not None else None
    if item is None:
        return
    if item.active_job == row.name:
        item.active_job = None
    if row.operation == Operation.BACKUP:
        note_backup_end(item, row)


def note_backup_end(item: ItemRow, job: JobRow) -> None:
    """An ended Backup job's mark on its item: the last backup, and its health while it is
    protected (a stopped item keeps its state; its last backup still counts)."""
    item.last_backup_time = job.start_time
    item.last_backup_status = job.status
    item.last_error_code = job.error_code
    if item.protection_state in ACTIVE_STATES:
        failed = job.status == JobStatus.FAILED
        item.protection_state = (
            ProtectionState.PROTECTION_ERROR if failed else ProtectionState.PROTECTED
        )


def _job(session: Session, vault_name: str, name: str) -> JobRow:
    vault_row(session, vault_name)
    row = session.get(JobRow, name)
    if row is None or row.vault_name != vault_name:
        raise RsvaultError(Code.JOB_NOT_FOUND, name=name, vault=vault_name)
    return row


def running_jobs(session: Session, vault_name: str) -> Sequence[JobRow]:
    query = select(JobRow).where(JobRow.vault_name == vault_name, JobRow.status.in_(RUNNING))
    return session.scalars(query).all()
