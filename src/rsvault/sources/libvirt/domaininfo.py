"""What rsvault knows of a domain, as plain data: usable without loading libvirt.

Restoring disks or listing recovery points needs these names and shapes but never talks
to a hypervisor, and the libvirt bindings are the largest library rsvault loads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

AGENT_CHANNEL = "org.qemu.guest_agent.0"
# Disk targets name files of a restore: only plain device names are accepted from anywhere.
TARGET_PATTERN = re.compile(r"[a-z][a-z0-9]{1,15}")  # use with fullmatch

RUNNING = "running"
SHUT_OFF = "shut off"
# A blocked vCPU is a running guest waiting on I/O: its disks are as good to read as running.
BACKUP_STATES = frozenset({RUNNING, "blocked", SHUT_OFF})


@dataclass(frozen=True)
class DiskInfo:
    target: str  # vda
    device: str  # disk, cdrom, floppy, lun
    kind: str  # file, block, network, volume
    path: str | None
    format: str | None  # qcow2, raw
    bus: str | None
    size: int = 0  # guest-visible bytes

    @property
    def can_carry_bitmap(self) -> bool:
        """Persistent dirty bitmaps (checkpoints) live in qcow2 images only."""
        return self.format == "qcow2"


@dataclass(frozen=True)
class DomainInfo:
    name: str
    uuid: str
    state: str
    vcpus: int
    memory_kib: int
    disks: list[DiskInfo]
    agent_channel: bool
    networks: list[str] = field(default_factory=list)
    qemu_owner: tuple[int, int] | None = None  # uid, gid QEMU runs as (live domains only)

    @property
    def backup_disks(self) -> list[DiskInfo]:
        return [d for d in self.disks if d.device == "disk"]
