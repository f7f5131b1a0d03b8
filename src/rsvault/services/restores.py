"""Restores of files and folders, to the original place or another folder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rsvault.engine.progress import ProgressSink, ignore_progress
from rsvault.engine.restore import FilesRestoreRequest, RestoreResult, restore_files
from rsvault.errors import Code, RsvaultError
from rsvault.services.context import ServiceContext
from rsvault.services.jobs import JobOutcome, run_as_job
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

    def work() -> JobOutcome:
        result = restore_files(vault, request, progress)
        return JobOutcome(result.stats.as_dict(), result.warnings, rp_name, _corruption(result))

    return run_as_job(ctx, vault_name, "Restore", manifest.item, work)


def _corruption(result: RestoreResult) -> RsvaultError | None:
    if not result.failed:
        return None
    first_path, why = sorted(result.failed.items())[0]
    error = RsvaultError(Code.VAULT_DATA_CORRUPT, object=first_path, reason=why)
    error.detail = "files not restored: " + ", ".join(sorted(result.failed))
    return error
