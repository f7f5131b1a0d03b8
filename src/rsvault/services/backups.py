"""On-demand backups of files and folders on this machine."""

from __future__ import annotations

import socket
from collections.abc import Sequence

from rsvault.engine.backup import FilesBackupRequest, backup_files
from rsvault.engine.progress import ProgressSink, ignore_progress
from rsvault.errors import Code, RsvaultError
from rsvault.services.context import ServiceContext
from rsvault.services.jobs import JobOutcome, run_as_job
from rsvault.services.vaults import open_vault
from rsvault.services.views import JobView


def default_item_name() -> str:
    """Like the MARS agent, a server's files item is named after the server."""
    return socket.gethostname()


def run_files_backup(
    ctx: ServiceContext,
    vault_name: str,
    paths: Sequence[str],
    excludes: Sequence[str] = (),
    item: str | None = None,
    progress: ProgressSink = ignore_progress,
) -> JobView:
    if not paths:
        raise RsvaultError(Code.INVALID_ARGUMENT, argument="--path", reason="give at least one")
    vault = open_vault(ctx, vault_name)  # a wrong passphrase fails here, before any job exists
    request = FilesBackupRequest(item or default_item_name(), paths, excludes)

    def work() -> JobOutcome:
        result = backup_files(vault, request, progress)
        return JobOutcome(result.stats.as_dict(), result.warnings, result.manifest.name)

    return run_as_job(ctx, vault_name, "Backup", request.item, work)
