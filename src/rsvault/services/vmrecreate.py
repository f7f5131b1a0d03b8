"""Restores that rebuild a VM from a recovery point: create-vm and replace-disks.

create-vm    restores every disk (qcow2) beside the host's other images, then defines a new
             domain from the stored XML with new identities. It is not started unless asked.
             Every refusal a user can act on (name, network, vCPUs, memory, a selective
             backup) comes before the job writes a byte; if libvirt still refuses the
             definition, the restored disks stay and the error names them (as in Azure).
replace-disks  for a shut-off VM: each disk is restored to a NEW file beside the current one,
             then the definition is switched to the new files in one defineXML. The old
             files are never touched. A crash before the switch leaves the old disks
             attached (and a finished new image beside them); after it, the new ones.

Azure refuses create-VM and replace-existing for selective-disk recovery points; so do we
(RESTORE_NEEDS_ALL_DISKS): a VM rebuilt without some of its disks is rarely what anyone
wants, and restore-disks remains for those points. File recovery (mount-rp, list, extract)
is in services/vmmounts.py and services/vmfilerecovery.py.
"""

from __future__ import annotations

import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rsvault.catalog.models import ContainerRow, ItemRow
from rsvault.engine.diskrestore import (
    DiskRestoreRequest,
    RestoredDisk,
    disk_layout,
    output_path,
    restore_disks,
)
from rsvault.engine.progress import ProgressSink, ignore_progress
from rsvault.errors import Code, RsvaultError
from rsvault.services.context import ServiceContext
from rsvault.services.jobrunner import JobHandle, JobOutcome, JobSpec, run_job
from rsvault.services.states import Operation
from rsvault.services.views import JobView
from rsvault.services.vmrestore import VmPoint, restored_disks_stats, vm_point
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
from rsvault.sources.libvirt.domain import inactive_xml, state_of
from rsvault.sources.libvirt.domaininfo import SHUT_OFF
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
