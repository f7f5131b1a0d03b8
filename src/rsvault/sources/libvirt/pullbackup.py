"""Checkpoints and pull-mode backup jobs: each disk exported over NBD as it was at one instant.

libvirt takes the checkpoint (a persistent dirty bitmap per qcow2 disk) and starts the backup
job in one call, so the instant is the same for both. QEMU then serves each disk through an NBD
export on a unix socket: reads see the disk as it was at that instant (QEMU copies a block to
the scratch file before the guest overwrites it), and for a disk backed up incrementally the
export also carries the bitmap of the blocks written since the previous checkpoint. The job
lasts until `end()`; the guest runs on meanwhile.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import libvirt

from rsvault.errors import Code, RsvaultError
from rsvault.sources.libvirt.domaininfo import DiskInfo
from rsvault.sources.libvirt.hypervisor import message_of

CHECKPOINT_PREFIX = "rsvault-"
# Azure keeps at most 18 instant restore points per VM; libvirt checkpoints are ours.
CHECKPOINT_LIMIT = 18
RUN_DIR = Path("/var/tmp")


@dataclass(frozen=True)
class ExportedDisk:
    target: str
    size: int
    incremental: bool  # the export carries the dirty bitmap since the previous checkpoint

    @property
    def bitmap_context(self) -> str:
        return f"qemu:dirty-bitmap:backup-{self.target}"


@dataclass
class PullBackup:
    domain: Any
    workdir: Path
    socket: Path
    checkpoint: str | None
    disks: list[ExportedDisk]

    def end(self) -> None:
        """Stop the job (the exports close) and remove the socket and scratch files."""
        with contextlib.suppress(libvirt.libvirtError):
            self.domain.abortJob()
        _wait_until_no_job(self.domain)
        for entry in self.workdir.iterdir():
            with contextlib.suppress(OSError):
                entry.unlink()
        with contextlib.suppress(OSError):
            self.workdir.rmdir()


def our_checkpoints(domain: Any) -> list[str]:
    """rsvault's checkpoints of the domain, oldest first."""
    found = [cp for cp in domain.listAllCheckpoints() if cp.getName().startswith(CHECKPOINT_PREFIX)]
    return [cp.getName() for cp in sorted(found, key=_creation_time)]


def _checkpoint_root(checkpoint: Any) -> ET.Element:
    return ET.fromstring(checkpoint.getXMLDesc(libvirt.VIR_DOMAIN_CHECKPOINT_XML_NO_DOMAIN))


def _creation_time(checkpoint: Any) -> int:
    return int(_checkpoint_root(checkpoint).findtext("creationTime", "0"))


def checkpoint_count(domain: Any) -> int:
    return len(domain.listAllCheckpoints())


def checkpointed_disks(domain: Any, name: str) -> set[str] | None:
    """The disks with a bitmap in checkpoint `name`; None when the checkpoint is gone."""
    try:
        checkpoint = domain.checkpointLookupByName(name)
    except libvirt.libvirtError:
        return None
    return {
        disk.get("name", "")
        for disk in _checkpoint_root(checkpoint).iter("disk")
        if disk.get("checkpoint") == "bitmap"
    }


def delete_checkpoint(domain: Any, name: str, metadata_only: bool = False) -> bool:
    """Delete one checkpoint; its bitmap merges into its parent's, so no change is lost."""
    flags = libvirt.VIR_DOMAIN_CHECKPOINT_DELETE_METADATA_ONLY if metadata_only else 0
    try:
        domain.checkpointLookupByName(name).delete(flags)
    except libvirt.libvirtError:
        return False
    return True


@dataclass(frozen=True)
class BackupRequest:
    vm: str
    every: list[DiskInfo]  # every disk of the domain: those not chosen are said to be left out
    chosen: list[DiskInfo]
    checkpoint: str | None  # the checkpoint to take with the backup, if any disk can carry it
    since: str | None  # incremental from this checkpoint where a disk has its bitmap
    owner: tuple[int, int] | None  # QEMU's uid and gid


def begin(domain: Any, request: BackupRequest) -> PullBackup:
    """Start a pull-mode backup of the chosen disks, incremental where a bitmap allows."""
    workdir = _private_dir(request.owner)
    socket = workdir / "nbd.sock"
    since = request.since
    since_disks = (checkpointed_disks(domain, since) or set()) if since else set()
    exported = [
        ExportedDisk(d.target, d.size, incremental=d.target in since_disks) for d in request.chosen
    ]
    backup_xml = _backup_xml(socket, workdir, exported, since, request.every)
    checkpoint = request.checkpoint
    checkpoint_xml = _checkpoint_xml(checkpoint, request) if checkpoint else None
    try:
        domain.backupBegin(backup_xml, checkpoint_xml, 0)
    except libvirt.libvirtError as exc:
        with contextlib.suppress(OSError):
            os.rmdir(workdir)
        raise _begin_error(request.vm, exc) from exc
    return PullBackup(domain, workdir, socket, checkpoint, exported)


def _private_dir(owner: tuple[int, int] | None) -> Path:
    """A folder only QEMU's user (and root) can enter: the NBD socket and scratch files."""
    path = Path(tempfile.mkdtemp(prefix="rsvault-backup-", dir=RUN_DIR))
    if owner is not None:
        os.chown(path, *owner)
    path.chmod(0o700)
    return path


def _backup_xml(
    socket: Path,
    workdir: Path,
    exported: list[ExportedDisk],
    since: str | None,
    all_disks: list[DiskInfo],
) -> str:
    lines = ["<domainbackup mode='pull'>"]
    lines.append(f"  <server transport='unix' socket={quoteattr(str(socket))}/>")
    lines.append("  <disks>")
    for disk in exported:
        scratch = quoteattr(str(workdir / f"scratch-{disk.target}.qcow2"))
        mode = (
            f"backupmode='incremental' incremental={quoteattr(since)}"
            if disk.incremental and since
            else "backupmode='full'"
        )
        lines.append(
            f"    <disk name={quoteattr(disk.target)} backup='yes' type='file' {mode}>"
            f"<scratch file={scratch}/></disk>"
        )
    chosen = {d.target for d in exported}
    for other in all_disks:
        if other.target not in chosen:
            lines.append(f"    <disk name={quoteattr(other.target)} backup='no'/>")
    lines += ["  </disks>", "</domainbackup>"]
    return "\n".join(lines)


def _checkpoint_xml(name: str, request: BackupRequest) -> str:
    chosen = {d.target for d in request.chosen}
    lines = [f"<domaincheckpoint><name>{name}</name><disks>"]
    for disk in request.every:
        wanted = disk.target in chosen and disk.can_carry_bitmap
        kind = "bitmap" if wanted else "no"
        lines.append(f"<disk name={quoteattr(disk.target)} checkpoint='{kind}'/>")
    lines.append("</disks></domaincheckpoint>")
    return "".join(lines)


def _begin_error(vm: str, exc: libvirt.libvirtError) -> RsvaultError:
    message = message_of(exc)
    lowered = message.lower()
    busy = ("active", "another", "running", "state change lock")
    if ("job" in lowered or "lock" in lowered) and any(word in lowered for word in busy):
        return RsvaultError(Code.BACKUP_OPERATION_IN_PROGRESS, item=vm, detail=message)
    return RsvaultError(Code.SNAPSHOT_FAILED, vm=vm, reason=message)


_ACTIVE_JOBS = (libvirt.VIR_DOMAIN_JOB_BOUNDED, libvirt.VIR_DOMAIN_JOB_UNBOUNDED)
JOB_END_WAIT_S = 30.0


def _active_job(domain: Any) -> bool:
    try:
        return domain.jobInfo()[0] in _ACTIVE_JOBS
    except libvirt.libvirtError:
        return False  # a shut-off domain has no job


def _wait_until_no_job(domain: Any) -> None:
    """An aborted backup job ends asynchronously; the next backup must not find it."""
    deadline = time.monotonic() + JOB_END_WAIT_S
    while _active_job(domain) and time.monotonic() < deadline:
        time.sleep(0.05)


def refuse_if_busy(domain: Any, vm: str) -> None:
    """Another job (someone else's backup, a migration) would hold libvirt's lock for 30 s."""
    if _active_job(domain):
        raise RsvaultError(
            Code.BACKUP_OPERATION_IN_PROGRESS,
            item=vm,
            detail="libvirt reports a job running on the domain (virsh domjobinfo)",
        )


def bitmap_problem(exc: RsvaultError) -> bool:
    """Did begin() fail because the previous checkpoint's bitmap is missing or unusable?"""
    reason = str(exc.params.get("reason", "")).lower()
    return exc.code is Code.SNAPSHOT_FAILED and (
        "bitmap" in reason or "checkpoint" in reason or "incremental" in reason
    )
