"""Restores that rebuild VMs and recover files: create-vm, replace-disks, file recovery.

create-vm    restores every disk (qcow2) beside the host's other images, then defines a new
             domain from the stored XML with new identities. It is not started unless asked.
             Every refusal a user can act on (name, network, vCPUs, memory, a selective
             backup) comes before the job writes a byte; if libvirt still refuses the
             definition, the restored disks stay and the error names them (as in Azure).
replace-disks  for a shut-off VM: each disk is restored to a NEW file beside the current one,
             then the definition is switched to the new files in one defineXML. The old
             files are never touched. A crash before the switch leaves the old disks
             attached (and a finished new image beside them); after it, the new ones.
file recovery  mount-rp restores the disks (raw, sparse, verified) into a cache folder and
             serves each read-only over NBD on a private unix socket, for 12 hours at most:
             the record expires, and each server runs under `timeout` so it dies on its own.
             list and extract read ext2/3/4 inside a mounted point with e2fsprogs' debugfs,
             as an unprivileged reader of an image file: no loop device, no kernel mount.

Azure refuses create-VM and replace-existing for selective-disk recovery points; so do we
(RESTORE_NEEDS_ALL_DISKS): a VM rebuilt without some of its disks is rarely what anyone
wants, and restore-disks remains for those points.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from rsvault.catalog.models import ContainerRow, ItemRow
from rsvault.core.clock import Clock
from rsvault.engine.diskrestore import (
    DiskRestoreRequest,
    RestoredDisk,
    disk_layout,
    output_path,
    restore_disks,
)
from rsvault.engine.progress import ProgressSink, ignore_progress
from rsvault.engine.vmbackup import VM_KIND
from rsvault.errors import Code, RsvaultError
from rsvault.services.context import ServiceContext
from rsvault.services.inventory import item_row, refuse_soft_deleted
from rsvault.services.jobrunner import JobHandle, JobOutcome, JobSpec, run_job
from rsvault.services.states import Operation
from rsvault.services.views import JobView, View, iso
from rsvault.services.vmrestore import VmPoint, restored_disks_stats, vm_point
from rsvault.sources.files.target import RestoreTarget
from rsvault.sources.libvirt.define import (
    NewDisk,
    NewDomain,
    NewDomainSpec,
    check_can_define,
    check_vm_name,
    default_image_dir,
    define_domain,
    disk_paths,
    is_remote,
    needs_of,
    new_domain_xml,
    replaced_disks_xml,
    runs_qemu_unprivileged,
    start_domain,
)
from rsvault.sources.libvirt.domain import SHUT_OFF, inactive_xml, state_of
from rsvault.sources.libvirt.hypervisor import connection, domain_exists, lookup

TRANSFER_DATA = "Transfer data"
CREATING_VM = "Creating VM"  # a final phase: services/jobs.py refuses to cancel it

# ==========================================================================================
# Where a VM item lives


def _host(ctx: ServiceContext, item_id: int) -> tuple[str, str]:
    """(container name, libvirt URI) of a VM item's hypervisor, as registered now."""
    with ctx.catalog.unit_of_work() as session:
        item = session.get(ItemRow, item_id)
        row = session.get(ContainerRow, item.container_id) if item is not None else None
        if item is None or row is None or not row.uri:
            vault = item.vault_name if item is not None else "?"
            raise RsvaultError(Code.CONTAINER_NOT_FOUND, name=str(item_id), vault=vault)
        return row.name, row.uri


def _refuse_selective(point: VmPoint) -> None:
    excluded = [str(t) for t in point.manifest.extra.get("excluded_disks") or ()]
    if excluded:
        raise RsvaultError(
            Code.RESTORE_NEEDS_ALL_DISKS,
            vm=point.manifest.item,
            rp=point.manifest.name,
            excluded=", ".join(excluded),
        )


def _stored_xml(point: VmPoint) -> str:
    xml = point.manifest.extra.get("domain_xml")
    if not isinstance(xml, str) or not xml:
        raise RsvaultError(
            Code.INVALID_ARGUMENT,
            argument="--rp-name",
            reason=f"{point.manifest.name} holds no VM definition; use restore restore-disks",
        )
    return xml


def _check_qemu_can_reach(folder: Path, uri: str, argument: str) -> None:
    """QEMU of qemu:///system runs as its own user: every folder above an image must let
    others through (libvirt relabels the image itself, never its folders)."""
    if not runs_qemu_unprivileged(uri):
        return
    for parent in [folder.resolve(), *folder.resolve().parents]:
        try:
            mode = parent.stat().st_mode
        except OSError:
            continue  # a missing folder is reported by the restore's own check
        if not mode & stat.S_IXOTH:
            raise RsvaultError(
                Code.INVALID_ARGUMENT,
                argument=argument,
                reason=f"QEMU runs unprivileged and cannot enter {parent} "
                f"(mode {stat.S_IMODE(mode):o}); choose a folder it can reach",
            )


# ==========================================================================================
# create-vm


@dataclass(frozen=True)
class CreateVmOptions:
    new_name: str
    network: str | None = None
    target_dir: Path | None = None  # default: libvirt's default pool folder
    start: bool = False


def run_create_vm(
    ctx: ServiceContext,
    vault_name: str,
    item_name: str,
    rp_name: str,
    options: CreateVmOptions,
    progress: ProgressSink = ignore_progress,
) -> JobView:
    check_vm_name(options.new_name)
    point = vm_point(ctx, vault_name, item_name, rp_name)
    _refuse_selective(point)
    _container, uri = _host(ctx, point.item_id)
    request, new = _plan_new_vm(point, uri, options)
    job_spec = JobSpec(
        vault_name,
        Operation.RESTORE,
        item_id=point.item_id,
        item_name=item_name,
        tasks=(TRANSFER_DATA, CREATING_VM),
    )

    def work(job: JobHandle) -> JobOutcome:
        with job.task(TRANSFER_DATA):
            restored = restore_disks(point.vault, request, job.watch(progress, any_thread=True))
        job.raise_if_cancelled()  # the last moment a cancel is honoured
        with job.task(CREATING_VM):
            uuid = _define_new(uri, new.xml, options, [d.path for d in restored])
        stats = {
            **restored_disks_stats(restored),
            "vm": options.new_name,
            "uuid": uuid,
            "started": options.start,
            "network": options.network,
            "dropped": new.dropped,
        }
        return JobOutcome(
            stats=stats, restored_from=rp_name, bytes_read=sum(d.size for d in restored)
        )

    return run_job(ctx, job_spec, work)


def _plan_new_vm(
    point: VmPoint, uri: str, options: CreateVmOptions
) -> tuple[DiskRestoreRequest, NewDomain]:
    """Where the disks go and what gets defined; every check a user can act on runs here."""
    stored = _stored_xml(point)
    if is_remote(uri) and options.target_dir is None:
        raise RsvaultError(
            Code.INVALID_ARGUMENT,
            argument="--target-dir",
            reason=f"{uri} is another host: give a folder it sees at the same path",
        )
    vm, rp = point.manifest.item, point.manifest.name
    with connection(uri) as conn:
        folder = (options.target_dir or default_image_dir(conn)).absolute()
        _check_qemu_can_reach(folder, uri, "--target-dir")
        request = DiskRestoreRequest(rp, folder, (), "qcow2", f"{options.new_name}-")
        planned = [
            NewDisk(str(d["target"]), output_path(request, str(d["target"])), "qcow2")
            for d in disk_layout(point.manifest)
        ]
        spec = NewDomainSpec(options.new_name, planned, options.network, vm, rp)
        new = new_domain_xml(stored, spec)
        check_can_define(conn, options.new_name, needs_of(new.xml))
    return request, new


def _define_new(uri: str, xml: str, options: CreateVmOptions, kept: Sequence[Path]) -> str:
    name = options.new_name
    with connection(uri) as conn:
        if domain_exists(conn, name):  # taken while the disks were restored
            raise RsvaultError(
                Code.VM_DEFINE_FAILED,
                vm=name,
                reason="a VM of that name was defined meanwhile",
                detail="restored disks: " + ", ".join(str(p) for p in kept),
            )
        domain = define_domain(conn, xml, name, kept)
        if options.start:
            start_domain(domain, name, kept)
        return str(domain.UUIDString())


# ==========================================================================================
# replace-disks


@dataclass(frozen=True)
class _Replacement:
    target: str
    old_path: Path
    request: DiskRestoreRequest


def run_replace_disks(
    ctx: ServiceContext,
    vault_name: str,
    item_name: str,
    rp_name: str,
    progress: ProgressSink = ignore_progress,
) -> JobView:
    point = vm_point(ctx, vault_name, item_name, rp_name)
    _refuse_selective(point)
    container, uri = _host(ctx, point.item_id)
    if is_remote(uri):
        raise RsvaultError(
            Code.INVALID_ARGUMENT,
            argument="--item-name",
            reason=f"{uri} is another host; replace-disks writes beside the disks on this one",
        )
    with connection(uri) as conn:
        domain = lookup(conn, item_name, container)
        _require_shut_off(domain, item_name)
        plan = _replacement_plan(point, inactive_xml(domain))
    for step in plan:
        _check_qemu_can_reach(step.request.target_dir, uri, "--item-name")
    spec = JobSpec(vault_name, Operation.RESTORE, item_id=point.item_id, item_name=item_name)

    def work(job: JobHandle) -> JobOutcome:
        sink = job.watch(progress, any_thread=True)
        restored = [restore_disks(point.vault, step.request, sink)[0] for step in plan]
        _switch_disks(uri, container, item_name, restored, job)
        stats = {
            **restored_disks_stats(restored),
            "replaced": [
                {"target": s.target, "old": str(s.old_path), "new": str(d.path)}
                for s, d in zip(plan, restored, strict=True)
            ],
        }
        return JobOutcome(
            stats=stats, restored_from=rp_name, bytes_read=sum(d.size for d in restored)
        )

    return run_job(ctx, spec, work)


def _require_shut_off(domain: Any, vm: str, detail: str | None = None) -> None:
    state = state_of(domain)
    if state != SHUT_OFF:
        raise RsvaultError(Code.VM_NOT_SHUT_DOWN, vm=vm, state=state, detail=detail)


def _replacement_plan(point: VmPoint, current_xml: str) -> list[_Replacement]:
    """Each disk of the point, restored beside the current disk of the same target, in its
    format, as <vm>-<rp>-<target>.<format>: a name no other restore of this point uses."""
    vm, rp = point.manifest.item, point.manifest.name
    current = disk_paths(current_xml)
    plan = []
    for disk in disk_layout(point.manifest):
        target = str(disk["target"])
        if target not in current:
            raise RsvaultError(Code.VM_DISK_NOT_FOUND, vm=vm, disk=target)
        kind, path, fmt = current[target]
        if kind != "file" or not path:
            raise RsvaultError(
                Code.INVALID_ARGUMENT,
                argument="--item-name",
                reason=f"disk {target} of {vm} is a {kind} disk, not a file: "
                "use restore-disks and attach the image yourself",
            )
        image_format = fmt if fmt in ("raw", "qcow2") else "qcow2"
        old = Path(path)
        request = DiskRestoreRequest(rp, old.parent, (target,), image_format, f"{vm}-{rp}-")
        plan.append(_Replacement(target, old, request))
    return plan


def _switch_disks(
    uri: str, container: str, vm: str, restored: Sequence[RestoredDisk], job: JobHandle
) -> None:
    """One defineXML moves every disk to its new file: libvirt writes the definition whole."""
    kept = [d.path for d in restored]
    with connection(uri) as conn:
        domain = lookup(conn, vm, container)
        _require_shut_off(domain, vm, "restored disks: " + ", ".join(str(p) for p in kept))
        job.enter_commit()
        new_disks = [NewDisk(d.target, d.path, d.format) for d in restored]
        define_domain(conn, replaced_disks_xml(inactive_xml(domain), new_disks), vm, kept)


# ==========================================================================================
# File recovery: mounts

MOUNT_HOURS = 12.0
_SERVER_START_SECONDS = 15.0
_SERVER_STOP_SECONDS = 5.0
_POLL_SECONDS = 0.05
_NBD_CLIENTS = 16


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
            options = {"xfs": "ro,norecovery", "ext4": "ro,noload", "ext3": "ro,noload"}
            part = f"{device}p{volume['partition']}" if volume.get("partition") else device
            mount_options = options.get(str(volume.get("filesystem")), "ro")
            lines.append(f"mount -o {mount_options} {part} /mnt   # {volume['name']}")
    lines.append("umount /mnt; qemu-nbd --disconnect /dev/nbd0")
    return lines


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
    return datetime.fromisoformat(view.expires_at) <= clock.now()


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
    if not 0 < request.hours <= MOUNT_HOURS:
        raise RsvaultError(
            Code.INVALID_ARGUMENT, argument="--hours", reason="more than 0, at most 12"
        )
    cache_dir = request.cache_dir
    if cache_dir is not None and not cache_dir.is_dir():
        raise RsvaultError(
            Code.RESTORE_TARGET_NOT_WRITABLE, target=str(cache_dir), reason="no such folder"
        )
    sweep_expired_mounts(ctx)
    mount_id = _mount_id(request.vault_name, request.item_name, request.rp_name)
    state = _state_path(ctx, mount_id)
    existing = _load_state(state)
    if existing is not None and existing.disks and all(_serving(d) for d in existing.disks):
        return existing  # mounted already: the same exports, the same expiry
    point = vm_point(ctx, request.vault_name, request.item_name, request.rp_name)
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
            socket_dir=_socket_dir(),
            job=job.name,
        )
        made.append(view)
        _make_mount(point, view, state, job.watch(progress, any_thread=True), ctx.clock)
        return JobOutcome(stats={"mount": view.as_dict()}, restored_from=request.rp_name)

    run_job(ctx, spec, work)
    return made[0]


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


def _socket_dir() -> str:
    """Unix socket paths are limited to 107 bytes: sockets go in a short private folder."""
    base = "/run" if os.access("/run", os.W_OK | os.X_OK) else None
    return tempfile.mkdtemp(prefix="rsvault-nbd-", dir=base)


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
        mounted_disk.pid = _start_server(disk.path, Path(socket), seconds)


def unmount_rp(ctx: ServiceContext, vault_name: str, item_name: str, rp_name: str) -> MountView:
    view = mounted(ctx, vault_name, item_name, rp_name)
    _teardown(view)
    _state_path(ctx, _mount_id(vault_name, item_name, rp_name)).unlink(missing_ok=True)
    return view


def _teardown(view: MountView) -> None:
    """Stop the servers, then remove only the files a mount makes, never a whole tree."""
    for disk in view.disks:
        if disk.pid is not None:
            _stop_server(disk.pid, disk.socket)
    socket_dir = Path(view.socket_dir)
    for name in [f"{d.target}.sock" for d in view.disks] + ["server.log"]:
        with contextlib.suppress(OSError):
            (socket_dir / name).unlink()
    folder = Path(view.folder)
    if folder.is_dir():
        for entry in folder.iterdir():
            if re.fullmatch(r"\.?[a-z][a-z0-9]{1,15}\.raw(\.rsvault-partial)?", entry.name):
                entry.unlink(missing_ok=True)
    for empty in (socket_dir, folder):
        with contextlib.suppress(OSError):
            empty.rmdir()


# ------------------------------------------------------------------------------------------
# NBD servers: qemu-nbd under `timeout`, detached from this process


def _start_server(image: Path, socket: Path, seconds: int) -> int:
    """Serve `image` read-only on `socket`; the server ends itself after `seconds`.
    `setsid --fork` detaches it: it outlives this command and is never our zombie."""
    pid_file = socket.with_suffix(".pid")
    log = socket.parent / "server.log"
    argv = [
        "setsid", "--fork", "timeout", "--signal=TERM", f"{seconds}s",
        "qemu-nbd", "--read-only", "--persistent", f"--shared={_NBD_CLIENTS}",
        "--format=raw", f"--socket={socket}", f"--pid-file={pid_file}", str(image),
    ]  # fmt: skip
    with open(log, "ab") as err:
        subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=err, stderr=err, check=True)
    try:
        return _wait_for_server(pid_file, socket, log)
    finally:
        pid_file.unlink(missing_ok=True)


def _wait_for_server(pid_file: Path, socket: Path, log: Path) -> int:
    waited = 0.0
    while waited < _SERVER_START_SECONDS:
        if pid_file.exists() and socket.exists():
            text = pid_file.read_text().strip()
            if text.isdigit():
                return int(text)
        _sleep(_POLL_SECONDS)
        waited += _POLL_SECONDS
    reason = log.read_text(errors="replace").strip() if log.exists() else ""
    raise RsvaultError(
        Code.FILESYSTEM_NOT_SUPPORTED,
        disk=socket.stem,
        reason=f"qemu-nbd did not start: {reason or 'no message'}",
    )


def _sleep(seconds: float) -> None:
    # Real time, not the injected clock: this waits for another process, which a fake clock
    # cannot hurry.
    time.sleep(seconds)


def _serving(disk: MountedDisk) -> bool:
    return disk.pid is not None and _is_our_server(disk.pid, disk.socket)


def _is_our_server(pid: int, socket: str) -> bool:
    """Alive (a zombie is not) and still the qemu-nbd of this socket, not a reused PID."""
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    alive = status.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")
    return alive and f"--socket={socket}".encode() in argv


def _stop_server(pid: int, socket: str) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not _is_our_server(pid, socket):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        waited = 0.0
        while waited < _SERVER_STOP_SECONDS and _is_our_server(pid, socket):
            _sleep(_POLL_SECONDS)
            waited += _POLL_SECONDS


# ==========================================================================================
# File recovery: what is on a disk (partitions, file systems)

SECTOR = 512
_EXT_FEATURES_EXT4 = 0x40 | 0x80 | 0x200 | 0x10000  # extents, 64bit, flex_bg, inline data
_EXTENDED_TYPES = (0x05, 0x0F, 0x85)
_GPT_MAX_ENTRIES = 1024
_EBR_MAX = 128


@dataclass(frozen=True)
class Volume:
    name: str  # vda for a file system on the whole disk, vda1 for partition 1
    partition: int  # 0: the whole disk
    offset: int
    size: int
    filesystem: str | None  # ext2, ext3, ext4, xfs, btrfs, swap, LVM2_member, crypto_LUKS...


def volumes_of(image: Path, target: str, size: int) -> list[Volume]:
    """The file systems of a disk image: the whole disk, or each MBR/GPT partition."""
    with open(image, "rb") as f:
        whole = filesystem_at(f, 0)
        if whole is not None:
            return [Volume(target, 0, 0, size, whole)]
        parts = _partitions(f)
        return [
            Volume(f"{target}{n}", n, start, length, filesystem_at(f, start))
            for n, start, length in parts
        ]


def _read(f: Any, offset: int, length: int) -> bytes:
    f.seek(offset)
    return bytes(f.read(length))


def filesystem_at(f: Any, offset: int) -> str | None:
    head = _read(f, offset, 4096)
    superblock = _read(f, offset + 1024, 1024)
    if len(superblock) >= 104 and superblock[56:58] == b"\x53\xef":
        compat = int.from_bytes(superblock[92:96], "little")
        incompat = int.from_bytes(superblock[96:100], "little")
        if incompat & _EXT_FEATURES_EXT4:
            return "ext4"
        return "ext3" if compat & 0x4 else "ext2"
    signatures = (
        (0, b"XFSB", "xfs"),
        (0, b"LUKS\xba\xbe", "crypto_LUKS"),
        (SECTOR + 24, b"LVM2 001", "LVM2_member"),
        (4086, b"SWAPSPACE2", "swap"),
        (3, b"NTFS    ", "ntfs"),
        (82, b"FAT32   ", "vfat"),
        (54, b"FAT1", "vfat"),
    )
    for at, magic, name in signatures:
        if head[at : at + len(magic)] == magic:
            return name
    if _read(f, offset + 65536 + 64, 8) == b"_BHRfS_M":
        return "btrfs"
    return None


def _partitions(f: Any) -> list[tuple[int, int, int]]:
    """(number, byte offset, byte length) of each partition; [] without a partition table."""
    mbr = _read(f, 0, SECTOR)
    if len(mbr) < SECTOR or mbr[510:512] != b"\x55\xaa":
        return []
    entries = [mbr[446 + 16 * i : 462 + 16 * i] for i in range(4)]
    if any(e[4] == 0xEE for e in entries):
        return _gpt_partitions(f)
    found = []
    for number, entry in enumerate(entries, 1):
        kind, start, count = entry[4], _u32(entry, 8), _u32(entry, 12)
        if kind in _EXTENDED_TYPES:
            found += _logical_partitions(f, start)
        elif kind and count:
            found.append((number, start * SECTOR, count * SECTOR))
    return found


def _logical_partitions(f: Any, extended_start: int) -> list[tuple[int, int, int]]:
    found, ebr, number = [], extended_start, 5
    while ebr and number < 5 + _EBR_MAX:
        record = _read(f, ebr * SECTOR, SECTOR)
        if len(record) < SECTOR or record[510:512] != b"\x55\xaa":
            break
        first, link = record[446:462], record[462:478]
        if first[4] and _u32(first, 12):
            found.append((number, (ebr + _u32(first, 8)) * SECTOR, _u32(first, 12) * SECTOR))
            number += 1
        ebr = extended_start + _u32(link, 8) if link[4] else 0
    return found


def _gpt_partitions(f: Any) -> list[tuple[int, int, int]]:
    header = _read(f, SECTOR, 92)
    if header[:8] != b"EFI PART":
        return []
    table, count, size = _u64(header, 72), _u32(header, 80), _u32(header, 84)
    if size < 128 or count > _GPT_MAX_ENTRIES:
        return []
    raw = _read(f, table * SECTOR, count * size)
    found = []
    for index in range(len(raw) // size):
        entry = raw[index * size : (index + 1) * size]
        first, last = _u64(entry, 32), _u64(entry, 40)
        if entry[:16] != bytes(16) and last >= first:
            found.append((index + 1, first * SECTOR, (last - first + 1) * SECTOR))
    return found


def _u32(data: bytes, at: int) -> int:
    return int.from_bytes(data[at : at + 4], "little")


def _u64(data: bytes, at: int) -> int:
    return int.from_bytes(data[at : at + 8], "little")


# ==========================================================================================
# File recovery: reading ext2/3/4 with debugfs (e2fsprogs), by inode number

EXT_FILESYSTEMS = ("ext2", "ext3", "ext4")
ROOT_INODE = 2
_LS_RECORD = re.compile(rb"/(\d+)/([0-7]{6})/(-?\d+)/(-?\d+)/([^/]*)/(\d*)/\n")
_BATCH = 512


@dataclass(frozen=True)
class FsEntry:
    ino: int
    mode: int
    uid: int
    gid: int
    name: bytes
    size: int

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.mode)

    @property
    def is_file(self) -> bool:
        return stat.S_ISREG(self.mode)

    @property
    def kind(self) -> str:
        kinds = {
            stat.S_IFDIR: "dir",
            stat.S_IFREG: "file",
            stat.S_IFLNK: "symlink",
            stat.S_IFCHR: "char-device",
            stat.S_IFBLK: "block-device",
            stat.S_IFIFO: "fifo",
            stat.S_IFSOCK: "socket",
        }
        return kinds.get(stat.S_IFMT(self.mode), "unknown")


class ExtFs:
    """An ext2/3/4 file system inside an image file, read through debugfs.

    debugfs opens the image read-only and never follows anything on the host; every file is
    named by inode number (`<12>`), so no name from the guest is ever parsed as a command.
    """

    def __init__(self, image: Path, volume: Volume) -> None:
        self.volume = volume
        self.spec = f"{image}?offset={volume.offset}" if volume.offset else str(image)

    def run(self, script: str, pass_fds: Sequence[int] = ()) -> bytes:
        result = subprocess.run(
            ["debugfs", "-c", "-f", "-", self.spec],
            input=script.encode(),
            capture_output=True,
            pass_fds=tuple(pass_fds),
            check=False,
        )
        problem = _debugfs_problem(result.stderr)
        if result.returncode != 0 or problem:
            raise RsvaultError(
                Code.FILESYSTEM_NOT_SUPPORTED,
                disk=self.volume.name,
                reason=problem or f"debugfs exited {result.returncode}",
            )
        return result.stdout

    def listings(self, inodes: Sequence[int]) -> dict[int, list[FsEntry]]:
        """Each directory's entries, without . and .., in batches of one debugfs run."""
        found: dict[int, list[FsEntry]] = {}
        for start in range(0, len(inodes), _BATCH):
            batch = inodes[start : start + _BATCH]
            out = self.run("".join(f"ls -p <{ino}>\n" for ino in batch))
            current: list[FsEntry] | None = None
            for match in _LS_RECORD.finditer(out):
                entry = _entry(match)
                if entry.name == b".":  # every listing starts with its own "." entry
                    current = found.setdefault(entry.ino, [])
                elif entry.name != b".." and current is not None:
                    current.append(entry)
        return found

    def lookup(self, path: bytes) -> FsEntry:
        entry = FsEntry(ROOT_INODE, stat.S_IFDIR | 0o755, 0, 0, b"", 0)
        for name in (part for part in path.split(b"/") if part):
            children = self.listings([entry.ino]).get(entry.ino, []) if entry.is_dir else []
            match = next((c for c in children if c.name == name), None)
            if match is None:
                shown = path.decode("utf-8", "backslashreplace")
                raise RsvaultError(Code.RESTORE_PATH_NOT_IN_RP, path=shown)
            entry = match
        return entry

    def walk(self, top: FsEntry, rel: bytes) -> Iterator[tuple[bytes, FsEntry]]:
        """`top` and everything under it, parents first; a directory is read once (a damaged
        file system may link one into itself)."""
        yield rel, top
        level = [(rel, top)] if top.is_dir else []
        seen = {top.ino}
        while level:
            listings = self.listings([entry.ino for _, entry in level])
            below = []
            for parent_rel, parent in level:
                for child in listings.get(parent.ino, []):
                    child_rel = parent_rel + b"/" + child.name if parent_rel else child.name
                    yield child_rel, child
                    if child.is_dir and child.ino not in seen:
                        seen.add(child.ino)
                        below.append((child_rel, child))
            level = below

    def dump(self, inodes: Sequence[int], folder_fd: int) -> None:
        """Copy each file's contents to <folder>/<position>. The folder is passed as an open
        descriptor, so a rename or symlink swap of its path cannot redirect the writes."""
        script = "".join(
            f"dump <{ino}> /proc/self/fd/{folder_fd}/{n}\n" for n, ino in enumerate(inodes)
        )
        self.run(script, pass_fds=(folder_fd,))


def _entry(match: re.Match[bytes]) -> FsEntry:
    ino, mode, uid, gid, name, size = match.groups()
    return FsEntry(int(ino), int(mode, 8), int(uid), int(gid), name, int(size or b"0"))


def _debugfs_problem(stderr: bytes) -> str | None:
    """debugfs exits 0 on every failure; its complaints are the stderr lines past the banner."""
    lines = [
        line
        for line in stderr.decode("utf-8", "replace").splitlines()
        if line.strip() and not line.startswith("debugfs ") and "catastrophic mode" not in line
    ]
    return "; ".join(lines[:3]) if lines else None


# ------------------------------------------------------------------------------------------
# list and extract


@dataclass
class FileEntryView(View):
    path: str
    type: str
    size: int
    mode: str
    uid: int
    gid: int
    volume: str


def _choose_volume(view: MountView, wanted: str | None) -> tuple[Path, Volume]:
    volumes = [(Path(d.image), Volume(**v)) for d in view.disks for v in d.volumes]
    if wanted is not None:
        chosen = [(p, v) for p, v in volumes if v.name == wanted]
        if not chosen:
            names = ", ".join(v.name for _, v in volumes) or "none"
            raise RsvaultError(
                Code.INVALID_ARGUMENT, argument="--volume", reason=f"one of: {names}"
            )
    else:
        chosen = [(p, v) for p, v in volumes if v.filesystem in EXT_FILESYSTEMS]
        if len(chosen) > 1:
            names = ", ".join(v.name for _, v in chosen)
            raise RsvaultError(
                Code.INVALID_ARGUMENT, argument="--volume", reason=f"choose one of: {names}"
            )
        if not chosen:
            chosen = volumes[:1]
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


def _guest_path(path: str) -> bytes:
    """An absolute path inside the guest, without . or .. (which could climb out of the
    restore target once the path is used under it)."""
    raw = os.fsencode(path)
    parts = [p for p in raw.split(b"/") if p]
    if not raw.startswith(b"/") or any(p in (b".", b"..") for p in parts) or b"\0" in raw:
        raise RsvaultError(Code.RESTORE_UNSAFE_PATH, path=path)
    return b"/".join(parts)


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
    rel = _guest_path(path)
    top = fs.lookup(rel)
    if not top.is_dir:
        return [_entry_view(rel, top, chosen)]
    if recursive:
        walked = list(fs.walk(top, rel))[1:]
    else:
        children = fs.listings([top.ino]).get(top.ino, [])
        walked = [(rel + b"/" + c.name if rel else c.name, c) for c in children]
    return [_entry_view(r, e, chosen) for r, e in walked]


@dataclass
class ExtractResult:
    files: int = 0
    dirs: int = 0
    bytes: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)


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
    wanted = [_guest_path(p) for p in paths or ["/"]]
    with ctx.catalog.unit_of_work() as session:
        item = item_row(session, vault_name, item_name)
        refuse_soft_deleted(item)
        if item.kind != VM_KIND:
            raise RsvaultError(Code.INVALID_ARGUMENT, argument="--item-name", reason="not a VM")
        item_id = item.id
    spec = JobSpec(vault_name, Operation.RESTORE, item_id=item_id, item_name=item_name)

    def work(job: JobHandle) -> JobOutcome:
        fs = ExtFs(image, chosen)
        result = ExtractResult()
        with RestoreTarget(target_dir.absolute()) as target:
            target.check_writable()
            for rel in wanted:
                _extract_tree(fs, fs.lookup(rel), rel, target, result, job)
        stats = {**asdict(result), "volume": chosen.name, "target": str(target_dir.absolute())}
        return JobOutcome(stats=stats, restored_from=rp_name, bytes_read=result.bytes)

    return run_job(ctx, spec, work)


def _extract_tree(
    fs: ExtFs, top: FsEntry, rel: bytes, target: RestoreTarget, out: ExtractResult, job: JobHandle
) -> None:
    files: list[tuple[bytes, FsEntry]] = []
    for path, entry in fs.walk(top, rel):
        if entry.is_dir:
            if path:
                _make_dir(target, path, entry, out)
        elif entry.is_file:
            files.append((path, entry))
            if len(files) >= _BATCH:
                job.raise_if_cancelled()
                _extract_files(fs, files, target, out)
                files = []
        else:
            _skip(out, path, f"{entry.kind}s are not extracted")
    _extract_files(fs, files, target, out)


def _skip(out: ExtractResult, rel: bytes, reason: str) -> None:
    out.skipped.append({"path": "/" + rel.decode("utf-8", "backslashreplace"), "reason": reason})


def _make_dir(target: RestoreTarget, rel: bytes, entry: FsEntry, out: ExtractResult) -> None:
    try:
        parent, name = target.locate(rel)
        os.mkdir(name, stat.S_IMODE(entry.mode) & 0o777 | 0o700, dir_fd=parent)
        out.dirs += 1
    except FileExistsError:
        if not stat.S_ISDIR(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode):
            _skip(out, rel, "something that is not a folder has this name in the target")
    except NotADirectoryError as exc:
        _skip(out, rel, exc.strerror or "a folder of its path is not a folder in the target")


def _extract_files(
    fs: ExtFs, files: Sequence[tuple[bytes, FsEntry]], target: RestoreTarget, out: ExtractResult
) -> None:
    """Dump a batch into a private staging folder inside the target (same file system), then
    hard-link each file to its place: a link never replaces an existing name."""
    if not files:
        return
    staging = tempfile.mkdtemp(prefix=".rsvault-extract-", dir=target.root)
    staging_fd = os.open(staging, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        fs.dump([entry.ino for _, entry in files], staging_fd)
        for n, (rel, entry) in enumerate(files):
            size = _staged_size(staging_fd, str(n), entry)
            if size != entry.size:
                shown = rel.decode("utf-8", "backslashreplace")
                raise RsvaultError(
                    Code.FILESYSTEM_NOT_SUPPORTED,
                    disk=fs.volume.name,
                    reason=f"read {size} of the {entry.size} bytes of /{shown}",
                )
            _place_file(staging_fd, str(n), rel, target, out)
            out.bytes += size
    finally:
        for name in os.listdir(staging_fd):
            os.unlink(name, dir_fd=staging_fd)
        os.close(staging_fd)
        os.rmdir(staging)


def _staged_size(staging_fd: int, temp: str, entry: FsEntry) -> int:
    fd = os.open(temp, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=staging_fd)
    try:
        os.fchmod(fd, stat.S_IMODE(entry.mode) & 0o777)  # no set-id bits from a guest
        return os.fstat(fd).st_size
    finally:
        os.close(fd)


def _place_file(
    staging_fd: int, temp: str, rel: bytes, target: RestoreTarget, out: ExtractResult
) -> None:
    try:
        parent, name = target.locate(rel)
        os.link(temp, name, src_dir_fd=staging_fd, dst_dir_fd=parent, follow_symlinks=False)
    except FileExistsError:
        _skip(out, rel, "exists in the target; nothing is overwritten")
        return
    except (NotADirectoryError, IsADirectoryError) as exc:
        _skip(out, rel, exc.strerror or "a folder of its path is not a folder in the target")
        return
    out.files += 1
