"""Jobs: every operation is recorded as it starts and as it ends."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from rsvault.catalog.models import JobRow
from rsvault.catalog.repositories import JobRepository
from rsvault.errors import Code, JobWarning, RsvaultError
from rsvault.services.context import ServiceContext
from rsvault.services.views import JobView, iso

IN_PROGRESS = "InProgress"
COMPLETED = "Completed"
COMPLETED_WITH_WARNINGS = "CompletedWithWarnings"
FAILED = "Failed"


def _view(row: JobRow) -> JobView:
    return JobView(
        name=row.name,
        operation=row.operation,
        status=row.status,
        vault_name=row.vault_name,
        item=row.item,
        start_time=iso(row.start_time),
        end_time=iso(row.end_time) if row.end_time else None,
        error_code=row.error_code,
        error_message=row.error_message,
        recovery_point=row.recovery_point,
        stats=dict(row.stats or {}),
        warnings=list(row.warnings or []),
    )


@dataclass
class JobOutcome:
    stats: Mapping[str, object]
    warnings: Sequence[JobWarning] = ()
    recovery_point: str | None = None
    error: RsvaultError | None = None


def start_job(ctx: ServiceContext, vault_name: str, operation: str, item: str | None) -> str:
    name = secrets.token_hex(8)
    row = JobRow(
        name=name,
        vault_name=vault_name,
        operation=operation,
        status=IN_PROGRESS,
        item=item,
        start_time=ctx.clock.now(),
        pid=os.getpid(),
        stats={},
        warnings=[],
    )
    with ctx.catalog.unit_of_work() as session:
        JobRepository(session).add(row)
    return name


def finish_job(ctx: ServiceContext, name: str, outcome: JobOutcome) -> JobView:
    with ctx.catalog.unit_of_work() as session:
        row = JobRepository(session).get(name)
        assert row is not None, "a job row disappeared while its job ran"
        row.end_time = ctx.clock.now()
        row.stats = dict(outcome.stats)
        row.recovery_point = outcome.recovery_point
        row.warnings = [
            {"code": w.code.value, "path": w.path, "message": w.message()} for w in outcome.warnings
        ]
        if outcome.error is not None:
            row.status = FAILED
            row.error_code = outcome.error.code.value
            row.error_message = outcome.error.report().message
        else:
            row.status = COMPLETED_WITH_WARNINGS if outcome.warnings else COMPLETED
        return _view(row)


def run_as_job(
    ctx: ServiceContext,
    vault_name: str,
    operation: str,
    item: str | None,
    work: Callable[[], JobOutcome],
) -> JobView:
    """Record a job around `work`; a failure is recorded with its code, then raised."""
    job = start_job(ctx, vault_name, operation, item)
    try:
        outcome = work()
    except RsvaultError as exc:
        outcome = JobOutcome(stats={}, error=exc)
    except BaseException as exc:  # a defect or an interrupt: the job must not stay InProgress
        finish_job(
            ctx, job, JobOutcome({}, error=RsvaultError(Code.INTERNAL_ERROR, reason=repr(exc)))
        )
        raise
    view = finish_job(ctx, job, outcome)
    if outcome.error is not None:
        outcome.error.detail = f"job {job}" + (
            f"; {outcome.error.detail}" if outcome.error.detail else ""
        )
        raise outcome.error
    return view
