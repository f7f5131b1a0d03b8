"""Disks of a VM recovery point back into image files: sparse, verified, renamed when whole.

Each disk is written to a hidden temporary file in the target folder, chunk by chunk at its
offset (a chunk of zeros is a hole, never written), every chunk authenticated as it is read,
by the restore pool's workers running as threads of this process (see `restorepool`). Only a
disk whose every chunk verified is renamed to its final name: a crash or a bad chunk leaves
no file that looks like a restored disk. Existing files are never overwritten, and a
disk's file name comes from a checked device name, never from a path in the manifest.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rsvault.engine.diskbackup import SEGMENT_FIELD
from rsvault.engine.progress import ProgressCounter, ProgressSink, ignore_progress
from rsvault.engine.restorepool import Outcome, SpanPlan, WritePool, error_of
from rsvault.engine.targetfaults import target_faults
from rsvault.engine.vmbackup import VM_KIND
from rsvault.errors import Code, RsvaultError
from rsvault.sources.libvirt.domaininfo import TARGET_PATTERN
from rsvault.sources.libvirt.images import convert_image
from rsvault.vault.index import Index, Location
from rsvault.vault.lease import LeaseKind
from rsvault.vault.manifest import Manifest
from rsvault.vault.repository import Vault
from rsvault.vault.tree import CHUNKS_FIELD, PATH_FIELD

# Chunks planned together: adjacent chunks of a disk mostly sit side by side in one pack,
# so a window is read in long spans.
WINDOW_CHUNKS = 64


@dataclass(frozen=True)
class DiskRestoreRequest:
    rp_name: str
    target_dir: Path
    disks: Sequence[str] = ()  # empty: every disk of the recovery point
    image_format: str = "raw"  # or qcow2
    name_prefix: str = ""
    workers: int = max(2, os.cpu_count() or 2)


@dataclass(frozen=True)
class RestoredDisk:
    target: str
    path: Path
    size: int
    format: str


def disk_layout(manifest: Manifest) -> list[dict[str, Any]]:
    """Each disk of a VM recovery point: target, size, format, source path (as backed up)."""
    return [dict(d) for d in manifest.extra.get("disks", [])]


def restore_disks(
    vault: Vault, request: DiskRestoreRequest, progress: ProgressSink = ignore_progress
) -> list[RestoredDisk]:
    with vault.lease(LeaseKind.SHARED, f"restore {request.rp_name}"):
        index = vault.load_readable_index()
        manifest = vault.read_manifest(request.rp_name)
        if manifest.kind != VM_KIND:
            raise RsvaultError(
                Code.INVALID_ARGUMENT,
                argument="--rp-name",
                reason=f"{request.rp_name} is not a recovery point of a VM",
            )
        chosen = _chosen_disks(manifest, request.disks)
        _check_target(request, chosen)
        counter = ProgressCounter(progress, "restore")
        counter.bytes_total = sum(int(d["size"]) for d in chosen)
        with target_faults(request.target_dir):
            return [_restore_one(vault, index, manifest, d, request, counter) for d in chosen]


def _chosen_disks(manifest: Manifest, wanted: Sequence[str]) -> list[dict[str, Any]]:
    disks = disk_layout(manifest)
    for disk in disks:
        if not TARGET_PATTERN.fullmatch(str(disk.get("target", ""))):
            raise RsvaultError(
                Code.VAULT_DATA_CORRUPT,
                object=f"manifest {manifest.name}",
                reason=f"disk name {disk.get('target')!r} is not a device name",
            )
    known = {d["target"] for d in disks}
    for name in wanted:
        if name not in known:
            raise RsvaultError(Code.VM_DISK_NOT_FOUND, vm=manifest.item, disk=name)
    return [d for d in disks if not wanted or d["target"] in wanted]


def output_path(request: DiskRestoreRequest, target: str) -> Path:
    return request.target_dir / f"{request.name_prefix}{target}.{request.image_format}"


def _check_target(request: DiskRestoreRequest, disks: list[dict[str, Any]]) -> None:
    folder = request.target_dir
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise RsvaultError(
            Code.RESTORE_TARGET_NOT_WRITABLE,
            target=str(folder),
            reason="not a folder this process may write into",
        )
    for disk in disks:
        path = output_path(request, disk["target"])
        if path.exists() or path.is_symlink():
            raise RsvaultError(
                Code.RESTORE_TARGET_NOT_WRITABLE,
                target=str(path),
                reason="a file of that name exists, and rsvault never overwrites a disk image",
            )


def _segments(vault: Vault, manifest: Manifest, index: Index, target: str) -> Iterator[list[Any]]:
    expected = 0
    for record in vault.read_tree(manifest, index):
        if bytes(record[PATH_FIELD]).decode() != target:
            continue
        if record.get(SEGMENT_FIELD) != expected:
            raise RsvaultError(
                Code.VAULT_DATA_CORRUPT,
                object=f"manifest {manifest.name}",
                reason=f"disk {target}: segment {record.get(SEGMENT_FIELD)} out of order",
            )
        expected += 1
        yield list(record.get(CHUNKS_FIELD) or ())


def _restore_one(
    vault: Vault,
    index: Index,
    manifest: Manifest,
    disk: dict[str, Any],
    request: DiskRestoreRequest,
    counter: ProgressCounter,
) -> RestoredDisk:
    target, size = str(disk["target"]), int(disk["size"])
    final = output_path(request, target)
    temp = request.target_dir / f".{final.name}.rsvault-partial"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        try:
            os.ftruncate(fd, size)
            written = _write_chunks(vault, index, manifest, target, fd, request.workers, counter)
            if written != size:
                raise RsvaultError(
                    Code.VAULT_DATA_CORRUPT,
                    object=f"manifest {manifest.name}",
                    reason=f"disk {target} adds up to {written} bytes, not {size}",
                )
            os.fsync(fd)
        finally:
            os.close(fd)
        _finish(temp, final, request.image_format)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    return RestoredDisk(target, final, size, request.image_format)


def _finish(temp: Path, final: Path, image_format: str) -> None:
    if image_format == "raw":
        os.link(temp, final)  # fails rather than replace a file that appeared meanwhile
        temp.unlink()
        return
    staged = final.with_name(f".{final.name}.rsvault-converting")
    convert_image(temp, staged, image_format)
    os.link(staged, final)
    staged.unlink()
    temp.unlink()


def _write_chunks(
    vault: Vault,
    index: Index,
    manifest: Manifest,
    target: str,
    fd: int,
    workers: int,
    counter: ProgressCounter,
) -> int:
    offset = 0
    plan = SpanPlan()
    with WritePool(vault, workers, threads=True) as pool:
        for segment in _segments(vault, manifest, index, target):
            for cid, length in segment:
                if cid is None:
                    counter.add(nbytes=length)  # a hole: nothing to write
                else:
                    plan.add(_locate(index, cid), 0, offset)
                offset += length
                if plan.chunks >= WINDOW_CHUNKS:
                    _submit(plan, fd, pool, counter)
                    plan = SpanPlan()
        _submit(plan, fd, pool, counter)
        while pool.outstanding:
            _settle(pool.wait(), counter)
    return offset


def _locate(index: Index, chunk_id: bytes) -> Location:
    location = index.get(chunk_id)
    if location is None:
        raise RsvaultError(
            Code.VAULT_DATA_CORRUPT, object=f"chunk {chunk_id.hex()}", reason="not in the index"
        )
    return location


def _submit(plan: SpanPlan, fd: int, pool: WritePool, counter: ProgressCounter) -> None:
    _settle(pool.submit(plan.batch([], [], [os.dup(fd)])), counter)


def _settle(outcomes: list[Outcome], counter: ProgressCounter) -> None:
    for outcome in outcomes:
        for _target, why in outcome.failed:
            raise error_of(why)  # a disk with a chunk that does not verify is not restored
        counter.add(nbytes=outcome.written)
