"""Restores of files and folders, to the original place or another folder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import select

from rsvault.catalog.models import ItemRow
from rsvault.engine.progress import ProgressSink, ignore_progress
from rsvault.engine.restore import FilesRestoreRequest, RestoreResult, restore_files
from rsvault.errors import Code, RsvaultError
from rsvault.services.context import ServiceContext
from rsvault.services.inventory import refuse_soft_deleted
from rsvault.services.jobrunner import JobHandle, JobOutcome, JobSpec, run_job
from rsvault.services.states import Operation
from rsvault.services.vaults import open_vault
from rsvault.services.views import JobView


def run_files_restore(
    ctx: ServiceContext,
    vault_name: str,
    rp_name: str,
    target: Path,
    paths: Sequence[str] = (),
    progress: ProgressSink = ignore_progress,
) -> JobView:
    vault = open_vault(ctx, vault_name)
    manifest = vault.read_manifest(rp_name)  # an unknown recovery point fails before the job
    request = FilesRestoreRequest(rp_name, target.absolute(), paths)
    with ctx.catalog.unit_of_work() as session:
        item = session.scalar(
            select(ItemRow).where(ItemRow.vault_name == vault_name, ItemRow.name == manifest.item)
        )
        if item is not None:
            refuse_soft_deleted(item)  # as in Azure: undelete it first, then restore
        item_id = item.id if item is not None else None
    spec = JobSpec(vault_name, Operation.RESTORE, item_id=item_id, item_name=manifest.item)

    def work(job: JobHandle) -> JobOutcome:
        result = restore_files(vault, request, job.watch(progress))
        return JobOutcome(
            stats=result.stats.as_dict(),
            warnings=result.warnings,
            restored_from=rp_name,
            error=_corruption(result),
            bytes_read=result.stats.bytes_written,
        )

    return run_job(ctx, spec, work)


def _corruption(result: RestoreResult) -> RsvaultError | None:
    if not result.failed:
        return None
    first_path, why = sorted(result.failed.items())[0]
    error = RsvaultError(Code.VAULT_DATA_CORRUPT, object=first_path, reason=why)
    error.detail = "files not restored: " + ", ".join(sorted(result.failed))
    return error
