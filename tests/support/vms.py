"""Blank virtual machines for tests: a domain with no operating system, and writes into it.

A blank domain (type 'qemu', no boot device) starts in well under a second and sits in its
firmware; libvirt still takes checkpoints of its disks and runs pull-mode backup jobs. Tests
write into a running VM's disks through QEMU's own block layer (HMP `qemu-io` on the disk's
device), which is what a guest's writes look like to the dirty bitmaps, and read a disk as it
is now with `qemu-io -U` from the host. QEMU runs as libvirt-qemu, so disk folders live under
/var/tmp (pytest's tmp_path is under a mode-700 folder). No pytest in this module.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MiB = 1024 * 1024
AGENT_CHANNEL = "org.qemu.guest_agent.0"


@dataclass(frozen=True)
class DiskSpec:
    target: str  # vda, vdb...
    size: int
    format: str = "qcow2"  # or raw


def vm_workdir(prefix: str = "rsvault-vm-") -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/var/tmp"))
    path.chmod(0o755)
    return path


def remove_workdir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def create_disk(path: Path, spec: DiskSpec) -> Path:
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", spec.format, str(path), str(spec.size)], check=True
    )
    return path


def blank_domain_xml(
    name: str,
    disks: list[tuple[DiskSpec, Path]],
    *,
    agent_channel: bool = True,
    vcpus: int = 1,
    memory_mib: int = 64,
    network: str | None = None,
) -> str:
    lines = [
        "<domain type='qemu'>",
        f"  <name>{name}</name>",
        f"  <memory unit='MiB'>{memory_mib}</memory>",
        f"  <vcpu>{vcpus}</vcpu>",
        "  <os><type arch='x86_64' machine='pc'>hvm</type></os>",
        "  <devices>",
    ]
    for spec, path in disks:
        lines.append(
            f"    <disk type='file' device='disk'><driver name='qemu' type='{spec.format}'/>"
            f"<source file='{path}'/><target dev='{spec.target}' bus='virtio'/></disk>"
        )
    if agent_channel:
        lines.append(
            f"    <channel type='unix'><target type='virtio' name='{AGENT_CHANNEL}'/></channel>"
        )
    if network:
        lines.append(
            f"    <interface type='network'><source network='{network}'/>"
            "<model type='virtio'/></interface>"
        )
    lines += ["    <memballoon model='none'/>", "  </devices>", "</domain>"]
    return "\n".join(lines)


def define_blank_vm(
    conn: Any,
    name: str,
    workdir: Path,
    disks: list[DiskSpec],
    *,
    start: bool = True,
    **options: Any,
) -> Any:
    placed = [
        (spec, create_disk(workdir / f"{name}-{spec.target}.{spec.format}", spec)) for spec in disks
    ]
    domain = conn.defineXML(blank_domain_xml(name, placed, **options))
    if start:
        domain.create()
    return domain


def destroy_vm(conn: Any, name: str) -> None:
    """Stop and undefine a test domain with its checkpoints' metadata; the disks stay."""
    import libvirt

    try:
        domain = conn.lookupByName(name)
    except libvirt.libvirtError:
        return
    with contextlib.suppress(libvirt.libvirtError):
        if domain.isActive():
            domain.destroy()
    flags = libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
    with contextlib.suppress(libvirt.libvirtError):
        domain.undefineFlags(flags | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA)


def _device_path(domain: Any, target: str) -> str:
    root = ET.fromstring(domain.XMLDesc())
    for disk in root.iter("disk"):
        node = disk.find("target")
        alias = disk.find("alias")
        if node is not None and node.get("dev") == target and alias is not None:
            return f"/machine/peripheral/{alias.get('name')}/virtio-backend"
    raise LookupError(f"no disk {target} with an alias in the live XML")


def _hmp(domain: Any, command: str) -> str:
    import libvirt_qemu

    return str(
        libvirt_qemu.qemuMonitorCommand(
            domain, command, libvirt_qemu.VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP
        )
    )


def write_into(domain: Any, target: str, offset: int, data: bytes, scratch: Path) -> None:
    """Write `data` at `offset` of a running VM's disk, as the guest would."""
    source = scratch / f"write-{os.getpid()}-{offset}.bin"
    source.write_bytes(data)
    source.chmod(0o644)
    try:
        device = _device_path(domain, target)
        out = _hmp(domain, f'qemu-io -d {device} "write -s {source} {offset} {len(data)}"')
        if out.strip():
            raise RuntimeError(f"qemu-io write failed: {out}")
    finally:
        source.unlink()


def zero_into(domain: Any, target: str, offset: int, length: int) -> None:
    device = _device_path(domain, target)
    out = _hmp(domain, f'qemu-io -d {device} "write -z {offset} {length}"')
    if out.strip():
        raise RuntimeError(f"qemu-io write -z failed: {out}")


def read_disk(path: Path, fmt: str) -> bytes:
    """The disk's current guest-visible bytes, read from the host while QEMU runs."""
    with tempfile.TemporaryDirectory(dir="/var/tmp") as scratch:
        raw = Path(scratch) / "disk.raw"
        subprocess.run(
            ["qemu-img", "convert", "-U", "-f", fmt, "-O", "raw", str(path), str(raw)],
            check=True,
            capture_output=True,
        )
        return raw.read_bytes()
