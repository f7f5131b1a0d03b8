"""File recovery from a mounted VM point (see services/vmmounts.py): list and extract.

Both read ext2/3/4 inside the mount's restored disk images with e2fsprogs' debugfs, as an
unprivileged reader of an image file: no loop device, no kernel mount. Other file systems
(XFS among them) are FILESYSTEM_NOT_SUPPORTED; their NBD exports can still be mounted by
root. extract copies into TARGET/<path in the guest> and never overwrites anything.
"""

from __future__ import annotations

import stat
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from rsvault.engine.vmbackup import VM_KIND
from rsvault.errors import Code, RsvaultError
from rsvault.services.context import ServiceContext
from rsvault.services.inventory import item_row, refuse_soft_deleted
from rsvault.services.jobrunner import JobHandle, JobOutcome, JobSpec, run_job
from rsvault.services.states import Operation
from rsvault.services.views import JobView, View
from rsvault.services.vmmounts import MountView, mounted
from rsvault.sources.diskimage.extfs import EXT_FILESYSTEMS, ExtFs, FsEntry
from rsvault.sources.diskimage.extract import ExtractResult, extract_tree, guest_path
from rsvault.sources.diskimage.volumes import Volume
from rsvault.sources.files.target import RestoreTarget


@dataclass
class FileEntryView(View):
    path: str
    type: str
    size: int
    mode: str
    uid: int
    gid: int
    volume: str


def list_files(
    ctx: ServiceContext,
    vault_name: str,
    item_name: str,
    rp_name: str,
    path: str = "/",
    volume: str | None = None,
    recursive: bool = False,
) -> list[FileEntryView]:
    view = mounted(ctx, vault_name, item_name, rp_name)
    image, chosen = _choose_volume(view, volume)
    fs = ExtFs(image, chosen)
    rel = guest_path(path)
    top = fs.lookup(rel)
    if not top.is_dir:
        return [_entry_view(rel, top, chosen)]
    if recursive:
        walked = list(fs.walk(top, rel))[1:]
    else:
        children = fs.listings([top.ino]).get(top.ino, [])
        walked = [(rel + b"/" + c.name if rel else c.name, c) for c in children]
    return [_entry_view(r, e, chosen) for r, e in walked]


def run_extract_files(
    ctx: ServiceContext,
    vault_name: str,
    item_name: str,
    rp_name: str,
    paths: Sequence[str],
    target_dir: Path,
    volume: str | None = None,
) -> JobView:
    """Copy files and folders out of a mounted point to TARGET/<path in the guest>.
    Nothing is overwritten: an existing entry is skipped and named in the job's stats."""
    view = mounted(ctx, vault_name, item_name, rp_name)
    image, chosen = _choose_volume(view, volume)
    wanted = [guest_path(p) for p in paths or ["/"]]
    spec = JobSpec(
        vault_name,
        Operation.RESTORE,
        item_id=_vm_item_id(ctx, vault_name, item_name),
        item_name=item_name,
    )

    def work(job: JobHandle) -> JobOutcome:
        fs = ExtFs(image, chosen)
        result = ExtractResult()
        with RestoreTarget(target_dir.absolute()) as target:
            target.check_writable()
            for rel in wanted:
                extract_tree(fs, rel, target, result, job.raise_if_cancelled)
        stats = {**asdict(result), "volume": chosen.name, "target": str(target_dir.absolute())}
        return JobOutcome(stats=stats, restored_from=rp_name, bytes_read=result.bytes)

    return run_job(ctx, spec, work)


def _vm_item_id(ctx: ServiceContext, vault_name: str, item_name: str) -> int:
    with ctx.catalog.unit_of_work() as session:
        item = item_row(session, vault_name, item_name)
        refuse_soft_deleted(item)
        if item.kind != VM_KIND:
            raise RsvaultError(Code.INVALID_ARGUMENT, argument="--item-name", reason="not a VM")
        return item.id


def _choose_volume(view: MountView, wanted: str | None) -> tuple[Path, Volume]:
    """The volume named `wanted`, or else the one ext volume (the first volume if none);
    it must hold ext2/3/4."""
    volumes = [(Path(d.image), Volume(**v)) for d in view.disks for v in d.volumes]
    chosen = _named(volumes, wanted) if wanted is not None else _default(volumes)
    if not chosen:
        raise RsvaultError(
            Code.FILESYSTEM_NOT_SUPPORTED,
            disk=", ".join(d.target for d in view.disks),
            reason="no partition or file system found",
        )
    image, volume = chosen[0]
    if volume.filesystem not in EXT_FILESYSTEMS:
        raise RsvaultError(
            Code.FILESYSTEM_NOT_SUPPORTED,
            disk=volume.name,
            reason=f"{volume.filesystem or 'no known file system'}; list and extract read "
            "ext2, ext3 and ext4: mount the NBD export to read others",
        )
    return image, volume


def _named(volumes: list[tuple[Path, Volume]], wanted: str) -> list[tuple[Path, Volume]]:
    chosen = [(p, v) for p, v in volumes if v.name == wanted]
    if not chosen:
        names = ", ".join(v.name for _, v in volumes) or "none"
        raise RsvaultError(Code.INVALID_ARGUMENT, argument="--volume", reason=f"one of: {names}")
    return chosen


def _default(volumes: list[tuple[Path, Volume]]) -> list[tuple[Path, Volume]]:
    chosen = [(p, v) for p, v in volumes if v.filesystem in EXT_FILESYSTEMS]
    if len(chosen) > 1:
        names = ", ".join(v.name for _, v in chosen)
        raise RsvaultError(
            Code.INVALID_ARGUMENT, argument="--volume", reason=f"choose one of: {names}"
        )
    return chosen or volumes[:1]


def _entry_view(rel: bytes, entry: FsEntry, volume: Volume) -> FileEntryView:
    return FileEntryView(
        path="/" + rel.decode("utf-8", "backslashreplace"),
        type=entry.kind,
        size=entry.size if not entry.is_dir else 0,
        mode=f"{stat.S_IMODE(entry.mode):04o}",
        uid=entry.uid,
        gid=entry.gid,
        volume=volume.name,
    )
