"""Backups of VM items: Take Snapshot, then Transfer data to vault, as one job."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from sqlalchemy import select

from rsvault.catalog.models import ContainerRow, ItemRow, RecoveryPointRow
from rsvault.engine.diskbackup import DiskInput
from rsvault.engine.progress import ProgressSink
from rsvault.engine.vmbackup import VmBackupRequest, VmBackupResult, backup_vm
from rsvault.errors import Code, RsvaultError
from rsvault.services.backups import ItemBackup, point_facts
from rsvault.services.context import ServiceContext
from rsvault.services.jobrunner import JobHandle, JobOutcome
from rsvault.services.states import TaskName
from rsvault.services.vmsettings import VmSettings
from rsvault.services.vmsnapshot import VmSnapshot, take_snapshot
from rsvault.sources.libvirt.hypervisor import connection, lookup
from rsvault.sources.libvirt.nbdexport import ALLOCATION, ExportReader
from rsvault.vault.repository import Vault

READ_WORKERS = 4


def vm_backup_work(
    ctx: ServiceContext, backup: ItemBackup, vault: Vault, progress: ProgressSink
) -> Callable[[JobHandle], JobOutcome]:
    def work(job: JobHandle) -> JobOutcome:
        settings = VmSettings.from_source(dict(backup.source))
        container, uri = _container_of(ctx, backup.container_id)
        with connection(uri) as conn:
            with job.task(TaskName.TAKE_SNAPSHOT):
                domain = lookup(conn, backup.item_name, container)
                settings = _checked_chain(ctx, backup.item_id, settings)
                snapshot = take_snapshot(domain, backup.item_name, settings, ctx.clock.now())
            try:
                with job.task(TaskName.TRANSFER):
                    result = _transfer(
                        vault, backup, snapshot, settings, container, uri, job, progress
                    )
            except BaseException:
                snapshot.abandon()
                raise
            snapshot.finish()
        _remember_chain(ctx, backup.item_id, snapshot, result)
        return _outcome(backup, snapshot, result, job.name)

    return work


def _container_of(ctx: ServiceContext, container_id: int) -> tuple[str, str]:
    with ctx.catalog.unit_of_work() as session:
        row = session.get(ContainerRow, container_id)
        if row is None or row.uri is None:
            raise RsvaultError(Code.CONTAINER_NOT_FOUND, name=str(container_id), vault="?")
        return row.name, row.uri


def _checked_chain(ctx: ServiceContext, item_id: int, settings: VmSettings) -> VmSettings:
    """The chain's recovery point must still exist: a bitmap alone cannot rebuild a disk."""
    if settings.checkpoint_rp is None:
        return settings
    with ctx.catalog.unit_of_work() as session:
        exists = session.scalar(
            select(RecoveryPointRow.id).where(
                RecoveryPointRow.item_id == item_id,
                RecoveryPointRow.name == settings.checkpoint_rp,
            )
        )
    return settings if exists else settings.with_chain(settings.checkpoint, None)


def _transfer(
    vault: Vault,
    backup: ItemBackup,
    snapshot: VmSnapshot,
    settings: VmSettings,
    container: str,
    uri: str,
    job: JobHandle,
    progress: ProgressSink,
) -> VmBackupResult:
    vm = backup.item_name
    disks = [
        _disk_input(snapshot, d.target, d.size, d.incremental, vm) for d in snapshot.pull.disks
    ]
    request = VmBackupRequest(
        item=vm,
        host=container,
        disks=disks,
        parent=settings.checkpoint_rp if snapshot.since else None,
        extra=_manifest_extra(snapshot, container, uri),
        workers=READ_WORKERS,
    )
    deadline = time.monotonic() + settings.transfer_timeout_s

    def within_time() -> None:
        if time.monotonic() > deadline:
            minutes = round(settings.transfer_timeout_s / 60, 2)
            raise RsvaultError(Code.TRANSFER_TOO_SLOW, vm=vm, minutes=minutes)

    return backup_vm(vault, request, job.watch(progress, any_thread=True), within_time)


def _disk_input(
    snapshot: VmSnapshot, target: str, size: int, incremental: bool, vm: str
) -> DiskInput:
    socket = snapshot.pull.socket
    bitmap = f"qemu:dirty-bitmap:backup-{target}" if incremental else None
    contexts = (ALLOCATION, bitmap) if bitmap else (ALLOCATION,)
    probe = ExportReader(socket, target, vm, contexts)
    try:
        maps = probe.extent_maps(bitmap)
    finally:
        probe.close()
    return DiskInput(
        target=target,
        size=size,
        data=maps.data,
        dirty=maps.dirty,
        open_reader=lambda: ExportReader(socket, target, vm),
    )


def _manifest_extra(snapshot: VmSnapshot, container: str, uri: str) -> dict[str, Any]:
    chosen = {d.target for d in snapshot.disks}
    return {
        "domain_xml": snapshot.domain_xml,
        "uuid": snapshot.info.uuid,
        "vcpus": snapshot.info.vcpus,
        "memory_kib": snapshot.info.memory_kib,
        "container": container,
        "uri": uri,
        "consistency": snapshot.consistency,
        "checkpoint": snapshot.pull.checkpoint,
        "incremental_from": snapshot.since,
        "disks": [
            {"target": d.target, "size": d.size, "format": d.format, "path": d.path, "bus": d.bus}
            for d in snapshot.disks
        ],
        "excluded_disks": [d.target for d in snapshot.info.backup_disks if d.target not in chosen],
        "snapshot_steps": [list(step) for step in snapshot.steps],
    }


def _remember_chain(
    ctx: ServiceContext, item_id: int, snapshot: VmSnapshot, result: VmBackupResult
) -> None:
    with ctx.catalog.unit_of_work() as session:
        row = session.get(ItemRow, item_id)
        if row is None:
            return
        settings = VmSettings.from_source(dict(row.source))
        chain = settings.with_chain(snapshot.pull.checkpoint, result.manifest.name)
        row.source = chain.to_source()


def _outcome(
    backup: ItemBackup, snapshot: VmSnapshot, result: VmBackupResult, job: str
) -> JobOutcome:
    point = replace(
        point_facts(
            backup,
            result.manifest,
            job,
            size=result.size,
            stored=result.bytes_stored,
            files=len(result.disks),
        ),
        consistency=snapshot.consistency,
    )
    stats: dict[str, object] = {
        "consistency": snapshot.consistency,
        "bytes_total": result.size,
        "bytes_read": result.bytes_read,
        "bytes_new": result.bytes_new,
        "bytes_stored": result.bytes_stored,
        "disks": [d.as_dict() for d in result.disks],
    }
    return JobOutcome(
        stats=stats,
        warnings=snapshot.warnings,
        recovery_point=point,
        bytes_read=result.bytes_read,
        bytes_transferred=result.bytes_new,
        bytes_stored=result.bytes_stored,
    )
