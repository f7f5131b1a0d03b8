"""Mounting a VM's recovery point for file recovery: mount-rp and unmount-rp.

mount-rp restores the disks (raw, sparse, verified) into a cache folder and serves each
read-only over NBD on a private unix socket, for 12 hours at most: the record expires, and
each server runs under `timeout` so it dies on its own. The record (RSVAULT_HOME/mounts/
<id>.json, one per vault, item and point) is written before anything else, so whatever
happens next, the sweep that every mount command runs first can find and undo it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from rsvault.core.clock import Clock
from rsvault.engine.diskrestore import DiskRestoreRequest, restore_disks
from rsvault.engine.progress import ProgressSink, ignore_progress
from rsvault.errors import Code, RsvaultError
from rsvault.services.context import ServiceContext
from rsvault.services.jobrunner import JobHandle, JobOutcome, JobSpec, run_job
from rsvault.services.states import Operation
from rsvault.services.views import View, iso
from rsvault.services.vmrestore import VmPoint, vm_point
from rsvault.sources.diskimage.volumes import volumes_of
from rsvault.sources.libvirt.nbdserver import (
    is_serving,
    make_socket_dir,
    remove_socket_dir,
    start_server,
    stop_server,
)

MOUNT_HOURS = 12.0
_CACHED_IMAGE = re.compile(r"\.?[a-z][a-z0-9]{1,15}\.raw(\.rsvault-partial)?")
_MOUNT_OPTIONS = {"xfs": "ro,norecovery", "ext4": "ro,noload", "ext3": "ro,noload"}


@dataclass
class MountedDisk:
    target: str
    size: int
    image: str
    socket: str
    uri: str
    pid: int | None = None
    volumes: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class MountView(View):
    vault_name: str
    item: str
    rp_name: str
    created: str
    expires_at: str
    folder: str
    socket_dir: str
    disks: list[MountedDisk] = field(default_factory=list)
    job: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out = super().as_dict()
        out["disks"] = [asdict(d) for d in self.disks]
        out["attach"] = attach_commands(self)
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> MountView:
        disks = [MountedDisk(**d) for d in raw.get("disks", [])]
        return cls(
            vault_name=raw["vaultName"],
            item=raw["item"],
            rp_name=raw["rpName"],
            created=raw["created"],
            expires_at=raw["expiresAt"],
            folder=raw["folder"],
            socket_dir=raw["socketDir"],
            disks=disks,
            job=raw.get("job"),
        )


def attach_commands(view: MountView) -> list[str]:
    """What a user runs (as root) to see a disk as a block device and mount a volume."""
    lines = ["modprobe nbd max_part=16"]
    for number, disk in enumerate(view.disks):
        device = f"/dev/nbd{number}"
        lines.append(f"qemu-nbd --read-only --format=raw --connect={device} '{disk.uri}'")
        for volume in disk.volumes:
            part = f"{device}p{volume['partition']}" if volume.get("partition") else device
            mount_options = _MOUNT_OPTIONS.get(str(volume.get("filesystem")), "ro")
            lines.append(f"mount -o {mount_options} {part} /mnt   # {volume['name']}")
    lines.append("umount /mnt; qemu-nbd --disconnect /dev/nbd0")
    return lines


# ------------------------------------------------------------------------------------------
# Mount records


def _mounts_dir(ctx: ServiceContext) -> Path:
    return ctx.home / "mounts"


def _mount_id(vault_name: str, item_name: str, rp_name: str) -> str:
    key = "\0".join((vault_name, item_name, rp_name)).encode()
    return hashlib.sha256(key).hexdigest()[:20]


def _state_path(ctx: ServiceContext, mount_id: str) -> Path:
    return _mounts_dir(ctx) / f"{mount_id}.json"


def _save_state(path: Path, view: MountView) -> None:
    """Written whole or not at all: a temp file renamed over the old record."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(json.dumps(view.as_dict(), indent=1), "utf-8")
    os.replace(temp, path)


def _load_state(path: Path) -> MountView | None:
    try:
        return MountView.from_dict(json.loads(path.read_text("utf-8")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        return None  # a damaged record: the sweep removes what it can of it


def _expired(view: MountView, clock: Clock) -> bool:
    """Past its expiry, or its servers are gone: they stop by themselves at expiry, to the
    second, and may do so a moment before the record says (or die for another reason)."""
    if datetime.fromisoformat(view.expires_at) <= clock.now():
        return True
    started = [d for d in view.disks if d.pid is not None]
    return bool(started) and not any(_serving(d) for d in started)


def sweep_expired_mounts(ctx: ServiceContext) -> list[str]:
    """Stop and remove every mount past its expiry (and any unreadable record)."""
    swept: list[str] = []
    folder = _mounts_dir(ctx)
    if not folder.is_dir():
        return swept
    for path in sorted(folder.glob("*.json")):
        view = _load_state(path)
        if view is None or _expired(view, ctx.clock):
            if view is not None:
                _teardown(view)
                swept.append(f"{view.item}/{view.rp_name}")
            path.unlink(missing_ok=True)
    return swept


def mounted(ctx: ServiceContext, vault_name: str, item_name: str, rp_name: str) -> MountView:
    """The live mount of a point, after sweeping expired ones; MOUNT_NOT_FOUND otherwise."""
    sweep_expired_mounts(ctx)
    view = _load_state(_state_path(ctx, _mount_id(vault_name, item_name, rp_name)))
    if view is None or not view.disks:
        raise RsvaultError(Code.MOUNT_NOT_FOUND, rp=rp_name, item=item_name)
    return view


# ------------------------------------------------------------------------------------------
# mount-rp and unmount-rp


@dataclass(frozen=True)
class MountRequest:
    vault_name: str
    item_name: str
    rp_name: str
    cache_dir: Path | None = None  # default: RSVAULT_HOME/mounts
    hours: float = MOUNT_HOURS


def mount_rp(
    ctx: ServiceContext, request: MountRequest, progress: ProgressSink = ignore_progress
) -> MountView:
    """Mount a point (a Restore job), or hand back its mount if every export still runs."""
    _check_request(request)
    sweep_expired_mounts(ctx)
    mount_id = _mount_id(request.vault_name, request.item_name, request.rp_name)
    state = _state_path(ctx, mount_id)
    existing = _load_state(state)
    if existing is not None and existing.disks and all(_serving(d) for d in existing.disks):
        return existing  # mounted already: the same exports, the same expiry
    point = vm_point(ctx, request.vault_name, request.item_name, request.rp_name)
    cache_dir = request.cache_dir
    base = (cache_dir.absolute() / "rsvault-mounts") if cache_dir else _mounts_dir(ctx)
    spec = JobSpec(
        request.vault_name,
        Operation.RESTORE,
        item_id=point.item_id,
        item_name=request.item_name,
    )
    made: list[MountView] = []

    def work(job: JobHandle) -> JobOutcome:
        # Under the item's lock: no other mount of this point is being made or torn down.
        stale = _load_state(state)
        if stale is not None:
            _teardown(stale)  # half made, or an export died: start again
        now = ctx.clock.now()
        view = MountView(
            vault_name=request.vault_name,
            item=request.item_name,
            rp_name=request.rp_name,
            created=iso(now),
            expires_at=iso(now + timedelta(hours=request.hours)),
            folder=str(base / mount_id),
            socket_dir=make_socket_dir(),
            job=job.name,
        )
        made.append(view)
        _make_mount(point, view, state, job.watch(progress, any_thread=True), ctx.clock)
        return JobOutcome(stats={"mount": view.as_dict()}, restored_from=request.rp_name)

    run_job(ctx, spec, work)
    return made[0]


def _check_request(request: MountRequest) -> None:
    if not 0 < request.hours <= MOUNT_HOURS:
        raise RsvaultError(
            Code.INVALID_ARGUMENT, argument="--hours", reason="more than 0, at most 12"
        )
    cache_dir = request.cache_dir
    if cache_dir is not None and not cache_dir.is_dir():
        raise RsvaultError(
            Code.RESTORE_TARGET_NOT_WRITABLE, target=str(cache_dir), reason="no such folder"
        )


def _serving(disk: MountedDisk) -> bool:
    return disk.pid is not None and is_serving(disk.pid, disk.socket)


def _make_mount(
    point: VmPoint, view: MountView, state: Path, progress: ProgressSink, clock: Clock
) -> None:
    """The record first (whatever happens next, the sweep can find it), then the disks and
    their servers, then the record again with them; on failure, nothing stays."""
    _save_state(state, view)
    try:
        _fill_mount(point, view, progress, clock)
    except BaseException:
        _teardown(view)
        state.unlink(missing_ok=True)
        raise
    _save_state(state, view)


def _fill_mount(point: VmPoint, view: MountView, progress: ProgressSink, clock: Clock) -> None:
    folder = Path(view.folder)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    request = DiskRestoreRequest(point.manifest.name, folder, (), "raw")
    left = datetime.fromisoformat(view.expires_at) - clock.now()
    seconds = max(1, int(left.total_seconds()))
    for disk in restore_disks(point.vault, request, progress):
        disk.path.chmod(0o400)  # the cache is a copy of the point: nobody writes to it
        socket = str(Path(view.socket_dir) / f"{disk.target}.sock")
        mounted_disk = MountedDisk(
            target=disk.target,
            size=disk.size,
            image=str(disk.path),
            socket=socket,
            uri=f"nbd+unix:///?socket={socket}",
            volumes=[asdict(v) for v in volumes_of(disk.path, disk.target, disk.size)],
        )
        view.disks.append(mounted_disk)
        mounted_disk.pid = start_server(disk.path, Path(socket), seconds)


def unmount_rp(ctx: ServiceContext, vault_name: str, item_name: str, rp_name: str) -> MountView:
    view = mounted(ctx, vault_name, item_name, rp_name)
    _teardown(view)
    _state_path(ctx, _mount_id(vault_name, item_name, rp_name)).unlink(missing_ok=True)
    return view


def _teardown(view: MountView) -> None:
    """Stop the servers, then remove only the files a mount makes, never a whole tree."""
    for disk in view.disks:
        if disk.pid is not None:
            stop_server(disk.pid, disk.socket)
    remove_socket_dir(Path(view.socket_dir), [f"{d.target}.sock" for d in view.disks])
    folder = Path(view.folder)
    if folder.is_dir():
        for entry in folder.iterdir():
            if _CACHED_IMAGE.fullmatch(entry.name):
                entry.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            folder.rmdir()
