"""Backups of files items: the one path that on-demand, ad hoc and scheduled backups share."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rsvault.catalog.models import ItemRow, RecoveryPointRow
from rsvault.engine.progress import ProgressSink, ignore_progress
from rsvault.errors import Code, RsvaultError
from rsvault.services.context import ServiceContext
from rsvault.services.inventory import adhoc_files_item, refuse_soft_deleted, this_machine
from rsvault.services.jobrunner import JobHandle, JobOutcome, JobSpec, run_job
from rsvault.services.recoverypoints import RecoveryPointFacts
from rsvault.services.states import ItemKind, Operation, PointKind, TaskName, Trigger
from rsvault.services.vaults import open_vault
from rsvault.services.views import JobView
from rsvault.vault.manifest import Manifest
from rsvault.vault.repository import Vault

if TYPE_CHECKING:  # the files engine loads for files backups only, not for VMs
    from rsvault.engine.backup import BackupResult, FilesBackupRequest

# Azure's portal and CLI keep an on-demand recovery point 30 days unless told otherwise.
DEFAULT_RETAIN = timedelta(days=30)


@dataclass(frozen=True)
class ItemBackup:
    """What one backup of an item needs, read from its row before the job starts."""

    vault_name: str
    item_id: int
    item_name: str
    item_kind: str
    container_id: int
    source: Mapping[str, Any]
    trigger: Trigger
    kind: PointKind
    retain_until: datetime | None = None
    on_start: Callable[[Session, ItemRow], None] | None = None

    @property
    def paths(self) -> list[str]:
        return list(self.source.get("paths", []))

    @property
    def excludes(self) -> list[str]:
        return list(self.source.get("excludes", []))

    @classmethod
    def of(
        cls,
        item: ItemRow,
        trigger: Trigger,
        kind: PointKind,
        *,
        retain_until: datetime | None = None,
        on_start: Callable[[Session, ItemRow], None] | None = None,
    ) -> ItemBackup:
        return cls(
            vault_name=item.vault_name,
            item_id=item.id,
            item_name=item.name,
            item_kind=item.kind,
            container_id=item.container_id,
            source=dict(item.source),
            trigger=trigger,
            kind=kind,
            retain_until=retain_until,
            on_start=on_start,
        )


def run_item_backup(
    ctx: ServiceContext,
    backup: ItemBackup,
    vault: Vault,
    progress: ProgressSink = ignore_progress,
) -> JobView:
    spec = JobSpec(
        vault_name=backup.vault_name,
        operation=Operation.BACKUP,
        item_id=backup.item_id,
        item_name=backup.item_name,
        trigger=backup.trigger,
        tasks=(TaskName.TAKE_SNAPSHOT, TaskName.TRANSFER),
        on_start=backup.on_start,
    )

    def work(job: JobHandle) -> JobOutcome:
        from rsvault.engine.backup import backup_files

        with job.task(TaskName.TAKE_SNAPSHOT):
            request = _prepare(ctx, backup)
        with job.task(TaskName.TRANSFER):
            result = backup_files(vault, request, job.watch(progress, any_thread=True))
        return _outcome(backup, result, job.name)

    if backup.item_kind == ItemKind.VM:
        from rsvault.services.vmbackup import vm_backup_work  # libvirt loads for VMs only

        return run_job(ctx, spec, vm_backup_work(ctx, backup, vault, progress))
    return run_job(ctx, spec, work)


def backup_preparation(backup: ItemBackup) -> Callable[[], object] | None:
    """What `run_item_backup` will load for this item, to load while the vault is unlocked
    (see `vaults.open_vault_meanwhile`): for a VM, libvirt and the VM modules."""
    if backup.item_kind != ItemKind.VM:
        return None
    return lambda: importlib.import_module("rsvault.services.vmbackup")


def _prepare(ctx: ServiceContext, backup: ItemBackup) -> FilesBackupRequest:
    """Files have no snapshot to take: this fixes the sources and the parent recovery point."""
    from rsvault.engine.backup import FilesBackupRequest

    missing = [p for p in backup.paths if not os.path.lexists(p)]
    if missing and len(missing) == len(backup.paths):
        raise RsvaultError(Code.BACKUP_SOURCE_NOT_FOUND, path=", ".join(missing))
    with ctx.catalog.unit_of_work() as session:
        parent = session.scalar(
            select(RecoveryPointRow.name)
            .where(RecoveryPointRow.item_id == backup.item_id)
            .order_by(RecoveryPointRow.time.desc())
            .limit(1)
        )
    return FilesBackupRequest(
        backup.item_name, backup.paths, backup.excludes, parent=parent, parent_known=True
    )


def point_facts(
    backup: ItemBackup, manifest: Manifest, job: str, *, size: int, stored: int, files: int
) -> RecoveryPointFacts:
    """The catalog's facts about the recovery point a backup of `backup` just wrote."""
    return RecoveryPointFacts(
        name=manifest.name,
        time=datetime.fromisoformat(manifest.time),
        kind=backup.kind,
        size=size,
        stored=stored,
        files=files,
        retain_until=backup.retain_until,
        job=job,
        host=manifest.host,
        paths=manifest.paths,
    )


def _outcome(backup: ItemBackup, result: BackupResult, job: str) -> JobOutcome:
    stats = result.stats
    point = point_facts(
        backup,
        result.manifest,
        job,
        size=stats.bytes_total,
        stored=stats.bytes_stored,
        files=stats.files,
    )
    return JobOutcome(
        stats=stats.as_dict(),
        warnings=result.warnings,
        recovery_point=point,
        bytes_read=stats.bytes_read,
        bytes_transferred=stats.bytes_new,
        bytes_stored=stats.bytes_stored,
    )


def run_files_backup(
    ctx: ServiceContext,
    vault_name: str,
    paths: Sequence[str],
    excludes: Sequence[str] = (),
    item: str | None = None,
    progress: ProgressSink = ignore_progress,
) -> JobView:
    """An ad hoc backup (like restic's): no policy needed; the item is created if new."""
    if not paths:
        raise RsvaultError(Code.INVALID_ARGUMENT, argument="--path", reason="give at least one")
    absolute = [os.path.abspath(p) for p in paths]
    vault = open_vault(ctx, vault_name)  # a wrong passphrase fails here, before any job

    def item_backup(session: Session) -> ItemBackup:
        name = item or this_machine()
        row = adhoc_files_item(session, vault_name, name, (absolute, excludes), ctx.clock.now())
        _check_adhoc(row, absolute)
        row.source = {"paths": absolute, "excludes": list(excludes)}
        # Under a policy, an ad hoc point is an on-demand one and expires like one.
        until = None if row.policy_id is None else ctx.clock.now() + DEFAULT_RETAIN
        return ItemBackup.of(row, Trigger.USER, PointKind.ON_DEMAND, retain_until=until)

    # Two first backups from one host at once both create its container.
    backup = ctx.catalog.creating(item_backup)
    return run_item_backup(ctx, backup, vault, progress)


def _check_adhoc(item: ItemRow, paths: Sequence[str]) -> None:
    refuse_soft_deleted(item)
    if item.kind != ItemKind.FILES:
        raise RsvaultError(
            Code.INVALID_ARGUMENT, argument="--item-name", reason=f"{item.name} is not a files item"
        )
    if item.policy_id is not None and list(item.source.get("paths", [])) != list(paths):
        raise RsvaultError(
            Code.INVALID_ARGUMENT,
            argument="--path",
            reason=f"{item.name} is protected by a policy with other paths; "
            "use `rsvault protection backup-now` for it, or another --item-name",
        )
