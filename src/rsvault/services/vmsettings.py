"""A protected VM's settings, kept as its item's `source`: disks, limits, consistency, chain."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from rsvault.core.units import TiB
from rsvault.errors import Code, RsvaultError
from rsvault.sources.libvirt.domaininfo import DiskInfo

# Azure's limit for a disk of a backed-up VM; a user may set a lower one per VM.
MAX_DISK_SIZE = 32 * TiB
# Azure asks to investigate a backup running over 12 hours.
TRANSFER_TIMEOUT_S = 12 * 3600.0
DISK_SETTINGS = ("include", "exclude")


@dataclass(frozen=True)
class VmSettings:
    uuid: str = ""
    disk_setting: str | None = None  # include | exclude | None (every disk)
    disk_list: tuple[str, ...] = ()
    max_disk_size: int = MAX_DISK_SIZE
    transfer_timeout_s: float = TRANSFER_TIMEOUT_S
    consistency: dict[str, Any] = field(default_factory=dict)
    checkpoint: str | None = None  # the checkpoint the next backup is incremental from
    checkpoint_rp: str | None = None  # the recovery point taken at that checkpoint

    @classmethod
    def from_source(cls, source: dict[str, Any]) -> VmSettings:
        return cls(
            uuid=str(source.get("uuid", "")),
            disk_setting=source.get("disk_setting"),
            disk_list=tuple(source.get("disk_list", ())),
            max_disk_size=int(source.get("max_disk_size", MAX_DISK_SIZE)),
            transfer_timeout_s=float(source.get("transfer_timeout_s", TRANSFER_TIMEOUT_S)),
            consistency=dict(source.get("consistency", {})),
            checkpoint=source.get("checkpoint"),
            checkpoint_rp=source.get("checkpoint_rp"),
        )

    def to_source(self) -> dict[str, Any]:
        return {
            "uuid": self.uuid,
            "disk_setting": self.disk_setting,
            "disk_list": list(self.disk_list),
            "max_disk_size": self.max_disk_size,
            "transfer_timeout_s": self.transfer_timeout_s,
            "consistency": self.consistency,
            "checkpoint": self.checkpoint,
            "checkpoint_rp": self.checkpoint_rp,
        }

    def with_chain(self, checkpoint: str | None, rp: str | None) -> VmSettings:
        return replace(self, checkpoint=checkpoint, checkpoint_rp=rp)

    def chosen(self, vm: str, disks: Sequence[DiskInfo]) -> list[DiskInfo]:
        """The disks this VM's backups include, in the domain's order."""
        check_disk_list(vm, disks, self.disk_setting, self.disk_list)
        if self.disk_setting == "include":
            return [d for d in disks if d.target in self.disk_list]
        if self.disk_setting == "exclude":
            return [d for d in disks if d.target not in self.disk_list]
        return list(disks)


def check_disk_list(
    vm: str, disks: Sequence[DiskInfo], setting: str | None, names: Sequence[str]
) -> None:
    if setting is None and names:
        raise RsvaultError(
            Code.INVALID_ARGUMENT,
            argument="--disk-list-setting",
            reason="say include or exclude for the disks of --diskslist",
        )
    if setting is not None and setting not in DISK_SETTINGS:
        raise RsvaultError(
            Code.INVALID_ARGUMENT, argument="--disk-list-setting", reason="include or exclude"
        )
    if setting is not None and not names:
        raise RsvaultError(Code.INVALID_ARGUMENT, argument="--diskslist", reason="name a disk")
    known = {d.target for d in disks}
    for name in names:
        if name not in known:
            raise RsvaultError(Code.VM_DISK_NOT_FOUND, vm=vm, disk=name)
    chosen = [d for d in disks if (d.target in names) == (setting == "include")]
    if setting is not None and not chosen:
        raise RsvaultError(
            Code.INVALID_ARGUMENT, argument="--diskslist", reason="this leaves no disk to back up"
        )
