"""Restores of VMs: disks to image files (the other three kinds build on this one)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from rsvault.catalog.models import ItemRow
from rsvault.engine.diskrestore import DiskRestoreRequest, RestoredDisk, restore_disks
from rsvault.engine.progress import ProgressSink, ignore_progress
from rsvault.engine.vmbackup import VM_KIND
from rsvault.errors import Code, RsvaultError
from rsvault.services.context import ServiceContext
from rsvault.services.inventory import item_row, refuse_soft_deleted
from rsvault.services.jobrunner import JobHandle, JobOutcome, JobSpec, run_job
from rsvault.services.states import Operation
from rsvault.services.vaults import open_vault
from rsvault.services.views import JobView
from rsvault.sources.libvirt.images import FORMATS
from rsvault.vault.manifest import Manifest
from rsvault.vault.repository import Vault


@dataclass(frozen=True)
class VmPoint:
    """A VM item's recovery point, checked before any restore job starts."""

    vault: Vault
    manifest: Manifest
    item_id: int


def vm_point(ctx: ServiceContext, vault_name: str, item_name: str, rp_name: str) -> VmPoint:
    with ctx.catalog.unit_of_work() as session:
        item = item_row(session, vault_name, item_name)
        refuse_soft_deleted(item)
        item_id = item.id
        if item.kind != VM_KIND:
            raise RsvaultError(
                Code.INVALID_ARGUMENT,
                argument="--item-name",
                reason=f"{item_name} is not a VM; use `rsvault restore files`",
            )
    vault = open_vault(ctx, vault_name)
    manifest = vault.read_manifest(rp_name)
    if manifest.item != item_name or manifest.kind != VM_KIND:
        raise RsvaultError(Code.RECOVERY_POINT_NOT_FOUND, name=f"{rp_name} of {item_name}")
    return VmPoint(vault, manifest, item_id)


def restored_disks_stats(disks: Sequence[RestoredDisk]) -> dict[str, object]:
    return {
        "disks": [
            {"target": d.target, "path": str(d.path), "size": d.size, "format": d.format}
            for d in disks
        ]
    }


def run_restore_disks(
    ctx: ServiceContext,
    vault_name: str,
    item_name: str,
    rp_name: str,
    target_dir: Path,
    disks: Sequence[str] = (),
    image_format: str = "raw",
    progress: ProgressSink = ignore_progress,
) -> JobView:
    if image_format not in FORMATS:
        raise RsvaultError(Code.INVALID_ARGUMENT, argument="--format", reason="raw or qcow2")
    point = vm_point(ctx, vault_name, item_name, rp_name)
    request = DiskRestoreRequest(
        rp_name,
        target_dir.absolute(),
        tuple(disks),
        image_format,
        name_prefix=f"{item_name}-{rp_name}-",
    )
    spec = JobSpec(vault_name, Operation.RESTORE, item_id=point.item_id, item_name=item_name)

    def work(job: JobHandle) -> JobOutcome:
        restored = restore_disks(point.vault, request, job.watch(progress, any_thread=True))
        return JobOutcome(
            stats=restored_disks_stats(restored),
            restored_from=rp_name,
            bytes_read=sum(d.size for d in restored),
        )

    return run_job(ctx, spec, work)


def item_is_vm(ctx: ServiceContext, vault_name: str, item_name: str) -> bool:
    with ctx.catalog.unit_of_work() as session:
        kind = session.scalar(
            select(ItemRow.kind).where(ItemRow.vault_name == vault_name, ItemRow.name == item_name)
        )
    return kind == VM_KIND
