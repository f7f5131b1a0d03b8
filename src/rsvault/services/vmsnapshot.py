"""The "Take Snapshot" step of a VM backup: checks, quiesce, checkpoint and NBD exports.

The order is Azure's: the VM's state, its disks against the limits, the checkpoint count, then
the guest agent (pre-script, freeze), the checkpoint with its backup job at one instant, thaw,
post-script. A shut-off VM is started paused, as Proxmox does, so its disks are exported the
same way; its vCPUs never run, and it is stopped again when the backup ends. Whatever fails,
the step undoes what it began: no job left running, no checkpoint without a recovery point.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from rsvault.core.units import format_bytes
from rsvault.errors import Code, JobWarning, RsvaultError
from rsvault.services.vmsettings import VmSettings
from rsvault.sources.libvirt import pullbackup
from rsvault.sources.libvirt.agent import GuestAgent
from rsvault.sources.libvirt.consistency import ConsistencySettings, consistent_snapshot
from rsvault.sources.libvirt.domain import describe, inactive_xml, power_off, start_paused
from rsvault.sources.libvirt.domaininfo import BACKUP_STATES, SHUT_OFF, DiskInfo, DomainInfo
from rsvault.sources.libvirt.pullbackup import PullBackup

CRASH_CONSISTENT = "CrashConsistent"


@dataclass
class VmSnapshot:
    """A running pull-mode backup job and what the transfer and the recovery point need."""

    domain: Any
    info: DomainInfo
    disks: list[DiskInfo]
    pull: PullBackup
    consistency: str
    since: str | None  # the checkpoint the exports' bitmaps are relative to
    started_paused: bool
    domain_xml: str
    warnings: list[JobWarning] = field(default_factory=list)
    steps: list[Any] = field(default_factory=list)

    def finish(self) -> None:
        """After the recovery point exists: only the new checkpoint stays."""
        self.pull.end()
        for name in pullbackup.our_checkpoints(self.domain):
            if name != self.pull.checkpoint:
                pullbackup.delete_checkpoint(self.domain, name)
        self._stop_if_started()

    def abandon(self) -> None:
        """No recovery point: the new checkpoint goes (its bitmap merges into the previous)."""
        self.pull.end()
        if self.pull.checkpoint:
            pullbackup.delete_checkpoint(self.domain, self.pull.checkpoint)
        self._stop_if_started()

    def _stop_if_started(self) -> None:
        if self.started_paused:
            power_off(self.domain)


def take_snapshot(domain: Any, vm: str, settings: VmSettings, now: datetime) -> VmSnapshot:
    info = describe(domain)
    if info.state not in BACKUP_STATES:
        raise RsvaultError(Code.VM_NOT_IN_DESIRABLE_STATE, vm=vm, state=info.state)
    disks = _checked_disks(vm, info, settings)
    pullbackup.refuse_if_busy(domain, vm)
    _tidy_checkpoints(domain, vm, settings.checkpoint)
    domain_xml = inactive_xml(domain)
    started_paused = info.state == SHUT_OFF
    if started_paused:
        _start_paused(domain, vm)
        info = describe(domain)
    try:
        return _quiesced_snapshot(domain, vm, info, disks, settings, now, domain_xml)
    except BaseException:
        if started_paused:
            power_off(domain)
        raise


def _quiesced_snapshot(
    domain: Any,
    vm: str,
    info: DomainInfo,
    disks: list[DiskInfo],
    settings: VmSettings,
    now: datetime,
    domain_xml: str,
) -> VmSnapshot:
    warnings: list[JobWarning] = []
    since = _usable_since(domain, settings, warnings, disks)

    request = pullbackup.BackupRequest(
        vm=vm,
        every=info.backup_disks,
        chosen=disks,
        checkpoint=_checkpoint_name(now) if any(d.can_carry_bitmap for d in disks) else None,
        since=since,
        owner=info.qemu_owner,
    )

    def begin() -> PullBackup:
        try:
            return pullbackup.begin(domain, request)
        except RsvaultError as exc:
            if since is None or not pullbackup.bitmap_problem(exc):
                raise
        bitmap_disks = [d for d in disks if d.can_carry_bitmap]
        _fell_back(warnings, bitmap_disks, "the checkpoint's bitmap could not be used")
        pullbackup.delete_checkpoint(domain, since, metadata_only=True)
        return pullbackup.begin(domain, replace(request, since=None))

    running = info.state != "paused"  # paused here only because we started it so
    agent = GuestAgent(domain, vm=vm) if info.agent_channel and running else None
    outcome = consistent_snapshot(
        agent,
        vm,
        ConsistencySettings.from_dict(settings.consistency),
        begin,
        running,
        discard=lambda pull: _discard(domain, pull),
    )
    pull = outcome.result
    exported_since = since if any(d.incremental for d in pull.disks) else None
    warnings += outcome.warnings
    warnings += [
        JobWarning(Code.DISK_READ_IN_FULL, d.target, {"format": d.format or "?"})
        for d in disks
        if not d.can_carry_bitmap
    ]
    consistency = outcome.consistency if running else CRASH_CONSISTENT
    return VmSnapshot(
        domain=domain,
        info=info,
        disks=disks,
        pull=pull,
        consistency=consistency,
        since=exported_since,
        started_paused=not running,
        domain_xml=domain_xml,
        warnings=warnings,
        steps=list(outcome.steps),
    )


def _discard(domain: Any, pull: PullBackup) -> None:
    pull.end()
    if pull.checkpoint:
        pullbackup.delete_checkpoint(domain, pull.checkpoint)


def _checked_disks(vm: str, info: DomainInfo, settings: VmSettings) -> list[DiskInfo]:
    disks = settings.chosen(vm, info.backup_disks)
    for disk in disks:
        if disk.path is None or disk.kind not in ("file", "block"):
            raise RsvaultError(
                Code.VM_DISK_UNSUPPORTED,
                vm=vm,
                disk=disk.target,
                reason=f"a {disk.kind} disk" if disk.path else "the disk has no source",
            )
        if disk.size > settings.max_disk_size:
            raise RsvaultError(
                Code.UNSUPPORTED_DISK_SIZE,
                vm=vm,
                disk=disk.target,
                size=format_bytes(disk.size),
                limit=format_bytes(settings.max_disk_size),
            )
    return disks


def _tidy_checkpoints(domain: Any, vm: str, keep: str | None) -> None:
    """Drop our checkpoints the chain no longer needs, then refuse if too many remain."""
    for name in pullbackup.our_checkpoints(domain):
        if name != keep:
            pullbackup.delete_checkpoint(domain, name)
    count = pullbackup.checkpoint_count(domain)
    if count + 1 > pullbackup.CHECKPOINT_LIMIT:
        raise RsvaultError(
            Code.RP_COLLECTION_LIMIT_REACHED, vm=vm, count=count, limit=pullbackup.CHECKPOINT_LIMIT
        )


def _usable_since(
    domain: Any, settings: VmSettings, warnings: list[JobWarning], disks: list[DiskInfo]
) -> str | None:
    since = settings.checkpoint
    if since is None:
        return None  # the first backup: a full read is expected, not worth a warning
    bitmap_disks = [d for d in disks if d.can_carry_bitmap]
    if settings.checkpoint_rp is None:
        reason = f"the recovery point taken at checkpoint {since} no longer exists"
        _fell_back(warnings, bitmap_disks, reason)
        return None
    have = pullbackup.checkpointed_disks(domain, since)
    if have is None:
        _fell_back(warnings, bitmap_disks, f"checkpoint {since} no longer exists")
        return None
    missing = [d for d in bitmap_disks if d.target not in have]
    if missing:
        _fell_back(warnings, missing, f"checkpoint {since} has no bitmap for this disk")
    return since


def _fell_back(warnings: list[JobWarning], disks: list[DiskInfo], reason: str) -> None:
    warnings.extend(
        JobWarning(Code.INCREMENTAL_FELL_BACK_TO_FULL, d.target, {"reason": reason}) for d in disks
    )


def _checkpoint_name(now: datetime) -> str:
    return f"{pullbackup.CHECKPOINT_PREFIX}{now:%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


def _start_paused(domain: Any, vm: str) -> None:
    try:
        start_paused(domain)
    except Exception as exc:  # libvirt's error, reported with our code
        raise RsvaultError(
            Code.SNAPSHOT_FAILED,
            vm=vm,
            reason=f"starting the shut-off VM paused to read its disks: {exc}",
        ) from exc
