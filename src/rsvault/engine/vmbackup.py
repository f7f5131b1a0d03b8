"""A VM's disks into one recovery point: chunks, then the tree, then the manifest, last.

The manifest carries what a restore needs besides the bytes: the domain XML and each disk's
layout (target, size, format, source path) under `extra`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rsvault.core.ids import recovery_point_name
from rsvault.engine.diskbackup import DiskBackupRun, DiskInput, DiskStats, parent_segments
from rsvault.engine.progress import (
    COMMIT_PHASE,
    Progress,
    ProgressCounter,
    ProgressSink,
    ignore_progress,
)
from rsvault.errors import Code, RsvaultError
from rsvault.vault.lease import LeaseKind
from rsvault.vault.manifest import Manifest
from rsvault.vault.repository import Vault

VM_KIND = "vm"


@dataclass(frozen=True)
class VmBackupRequest:
    item: str
    host: str
    disks: Sequence[DiskInput]
    parent: str | None = None  # the recovery point whose chunks unchanged extents keep
    extra: dict[str, Any] = field(default_factory=dict)
    workers: int = 4


@dataclass
class VmBackupResult:
    manifest: Manifest
    disks: list[DiskStats]
    bytes_new: int = 0
    bytes_stored: int = 0

    @property
    def bytes_read(self) -> int:
        return sum(d.bytes_read for d in self.disks)

    @property
    def size(self) -> int:
        return sum(d.size for d in self.disks)


def backup_vm(
    vault: Vault,
    request: VmBackupRequest,
    progress: ProgressSink = ignore_progress,
    should_stop: Callable[[], None] = lambda: None,
) -> VmBackupResult:
    with vault.lease(LeaseKind.SHARED, f"backup {request.item}") as lease:
        index = vault.load_index()  # live packs only, as for files
        parent = _parent(vault, request)
        parents = parent_segments(vault, parent, vault.readable(index))
        counter = ProgressCounter(progress, "backup")
        counter.bytes_total = sum(d.size for d in request.disks)
        writer = vault.disk_chunk_writer(index)
        run = DiskBackupRun(vault, writer, index, counter, request.workers, should_stop)
        stats: list[DiskStats] = []
        try:
            refs = vault.write_tree(writer, run.records(request.disks, parents, stats))
            writer.flush()
        finally:
            run.close()
            writer.close()
        manifest = Manifest(
            name=recovery_point_name(vault.clock.now()),
            time=vault.clock.now().isoformat(),
            item=request.item,
            kind=VM_KIND,
            host=request.host,
            paths=[d.target for d in request.disks],
            tree=[(cid, n) for cid, n in refs if cid is not None],
            stats={
                "bytes_total": sum(d.size for d in stats),
                "bytes_read": sum(d.bytes_read for d in stats),
                "bytes_new": writer.stats.bytes_new,
                "bytes_stored": writer.stats.bytes_stored,
            },
            parent=parent.name if parent else None,
            extra={**request.extra, "disk_stats": [d.as_dict() for d in stats]},
        )
        progress(Progress(COMMIT_PHASE, 0, counter.bytes))
        vault.write_manifest(manifest, lease)
    return VmBackupResult(manifest, stats, writer.stats.bytes_new, writer.stats.bytes_stored)


def _parent(vault: Vault, request: VmBackupRequest) -> Manifest | None:
    if request.parent is None:
        return None
    try:
        manifest = vault.read_manifest(request.parent)
    except RsvaultError as exc:
        if exc.code is Code.RECOVERY_POINT_NOT_FOUND:
            return None  # expired meanwhile: the bitmap alone cannot rebuild the disk
        raise
    return manifest if manifest.kind == VM_KIND and manifest.item == request.item else None
